"""The schemas editors use (schemas/, named in every config file's first line) are current."""

import json
import subprocess
import sys

from deprules.config.schema import load_schema
from deprules.output_schemas import OUTPUT_SCHEMAS, load_output_schema


def test_exported_schemas_match_the_package(root):
    for path in sorted((root / "schemas").glob("*.schema.json")):
        assert json.loads(path.read_text()) == load_schema(path.name[: -len(".schema.json")]), (
            f"{path} is stale: run `deprules schema export schemas`")


def test_exported_output_schemas_match_the_package(root):
    exported = {p.name[: -len(".schema.json")]
                for p in (root / "schemas" / "output").glob("*.schema.json")}
    assert exported == set(OUTPUT_SCHEMAS), "run `deprules schema export schemas`"
    for kind in sorted(exported):
        path = root / "schemas" / "output" / f"{kind}.schema.json"
        assert json.loads(path.read_text()) == load_output_schema(kind), (
            f"{path} is stale: run `deprules schema export schemas`")


def test_output_schemas_are_what_their_generator_writes(root):
    run = subprocess.run([sys.executable, str(root / "tools" / "output_schemas.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, (f"{run.stdout}{run.stderr}\nthe output schemas are edited in "
                                 "tools/output_schemas.py: run it to rewrite them")


def test_every_config_and_rule_file_names_its_schema(root):
    for folder in ("config", "rules"):
        for f in sorted((root / folder).glob("*.yaml")):
            first = f.read_text().splitlines()[0]
            assert first.startswith("# yaml-language-server: $schema=../schemas/"), f
            target = root / "schemas" / first.split("../schemas/")[1]
            assert target.exists(), f"{f} names {target}, which does not exist"
