"""The schemas editors use (schemas/, named in every config file's first line) are current."""

import json

from deprules.config.schema import load_schema


def test_exported_schemas_match_the_package(root):
    for path in sorted((root / "schemas").glob("*.schema.json")):
        assert json.loads(path.read_text()) == load_schema(path.name[: -len(".schema.json")]), (
            f"{path} is stale: run `deprules schema export schemas`")


def test_every_config_and_rule_file_names_its_schema(root):
    for folder in ("config", "rules"):
        for f in sorted((root / folder).glob("*.yaml")):
            first = f.read_text().splitlines()[0]
            assert first.startswith("# yaml-language-server: $schema=../schemas/"), f
            target = root / "schemas" / first.split("../schemas/")[1]
            assert target.exists(), f"{f} names {target}, which does not exist"
