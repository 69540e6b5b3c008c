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


def test_exported_http_schemas_are_the_services(root):
    # schemas/http/ holds what `schema export` writes of the service's schemas (and
    # openapi.json), text for text; tests/test_service_schemas.py compares them with what a
    # running server answers
    from deprules.config.schema import http_schema_texts
    from deprules.http_schemas import http_schemas

    want = http_schema_texts()
    assert set(want) == {f"{n}.schema.json" for n in http_schemas()} | {"openapi.json"}
    folder = root / "schemas" / "http"
    assert {p.name for p in folder.iterdir()} == set(want), "run `deprules schema export schemas`"
    for name, text in sorted(want.items()):
        assert (folder / name).read_text(encoding="utf-8") == text, (
            f"{folder / name} is stale: run `deprules schema export schemas`")


def test_schema_export_writes_the_http_schemas(tmp_path):
    from deprules.config.schema import export_schemas, http_schema_texts

    written = export_schemas(tmp_path)
    http = {p.name for p in written if p.parent == tmp_path / "http"}
    assert http == set(http_schema_texts())
    assert {p.name for p in (tmp_path / "http").iterdir()} == http


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
