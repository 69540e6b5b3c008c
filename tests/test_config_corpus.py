"""A corpus of broken configurations: each case must fail with located problems.

The cases live in ``tests/config_cases/*.yaml``. Each one copies the shipped ``config/``
folder to a temporary directory, breaks one file with its ``patch`` and expects
:func:`deprules.config.load_config` to raise :class:`deprules.errors.ConfigError` whose
``problems`` include every entry of ``expect`` (file basename, line, column, JSON path and
code; other problems may be reported too).

Patch keys (applied in this order):
  ``text``      the complete new text of the file
  ``replace``   ``[[old, new], ...]``: exact replacements, each ``old`` occurring exactly once
  ``append``    text added at the end
  ``pad_bytes`` append a YAML comment of at least this many bytes
  ``encoding``  write the patched text in this encoding (default utf-8)
  ``delete``    ``true``: remove the file instead
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from deprules.config import load_config
from deprules.errors import ConfigError
from deprules.yamlload import load_yaml_file

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "config_cases"
SHIPPED = HERE.parent / "config"

CONFIG_FILES = (
    "installation.yaml",
    "deposit_classes.yaml",
    "sa_types.yaml",
    "adjustment_types.yaml",
    "write_off_controls.yaml",
    "todo_types.yaml",
    "approval_profiles.yaml",
    "users.yaml",  # optional: not shipped, so its cases give its whole text
)

# Every code the corpus must exercise at least once.
REQUIRED_CODES = {
    # YAML
    "yaml-syntax", "duplicate-key", "too-many-nodes", "too-deep", "file-too-large",
    "not-utf8", "missing-file",
    # schema
    "missing-key", "unknown-key", "wrong-type", "unknown-value", "bad-format", "out-of-range",
    # cross-references
    "unknown-reference", "missing-reference", "default-not-last", "band-overlap", "band-gap",
    "bad-band", "rates-out-of-order", "no-deposit-sa-type", "duplicate-criterion",
    "unknown-placeholder",
    # effective-dated values (docs/configuration.md)
    "dated-first-has-date", "dated-missing-date", "dated-out-of-order", "dated-duplicate-date",
}

CASE_KEYS = {"id", "file", "note", "patch", "expect"}
PATCH_KEYS = {"text", "replace", "append", "pad_bytes", "encoding", "delete"}
EXPECT_KEYS = {"file", "line", "column", "path", "code"}


def _load_cases() -> list[dict]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            case["_source"] = path.name
            cases.append(case)
    return cases


CASES = _load_cases()


def _patched_text(case: dict) -> str:
    patch = case["patch"]
    shipped = SHIPPED / case["file"]
    text = shipped.read_text(encoding="utf-8") if shipped.exists() else ""
    if "text" in patch:
        text = patch["text"]
    for old, new in patch.get("replace", []):
        count = text.count(old)
        assert count == 1, (
            f"case {case['id']}: replace target occurs {count} times (must be exactly once): "
            f"{old!r}"
        )
        text = text.replace(old, new)
    if "append" in patch:
        text += patch["append"]
    if "pad_bytes" in patch:
        line = "#" + "x" * 99 + "\n"
        text += line * (patch["pad_bytes"] // len(line) + 1)
    return text


def _apply(case: dict, folder: Path) -> None:
    target = folder / case["file"]
    if case["patch"].get("delete"):
        target.unlink()
        return
    target.write_bytes(_patched_text(case).encode(case["patch"].get("encoding", "utf-8")))


def _key(problem) -> tuple:
    return (Path(problem.file).name, problem.line, problem.column, problem.path, problem.code)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_broken_config_is_reported(case: dict, tmp_path: Path) -> None:
    folder = tmp_path / "config"
    shutil.copytree(SHIPPED, folder)
    _apply(case, folder)
    with pytest.raises(ConfigError) as info:
        load_config(folder)
    got = {_key(p) for p in info.value.problems}
    missing = [
        e for e in case["expect"]
        if (e["file"], e["line"], e["column"], e["path"], e["code"]) not in got
    ]
    if missing:
        reported = "\n".join(f"  {p.render()}" for p in info.value.problems)
        wanted = "\n".join(
            f"  {e['file']}:{e['line']}:{e['column']}: {e['path']} [{e['code']}]"
            for e in missing
        )
        pytest.fail(f"{case['id']} ({case.get('note', '')}): not reported:\n{wanted}\n"
                    f"reported:\n{reported}")


def test_shipped_config_is_valid() -> None:
    load_config(SHIPPED)


def test_cases_are_well_formed() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for case in CASES:
        where = f"{case['_source']}: {case.get('id')}"
        assert set(case) - {"_source"} <= CASE_KEYS, where
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", case["id"]), where
        assert case["file"] in CONFIG_FILES, where
        assert set(case["patch"]) <= PATCH_KEYS and case["patch"], where
        assert case["expect"], where
        for e in case["expect"]:
            assert set(e) == EXPECT_KEYS, where
            assert e["file"] in CONFIG_FILES, where
            assert isinstance(e["line"], int) and isinstance(e["column"], int), where
        if not case["patch"].get("delete"):
            text = _patched_text(case)  # replace targets exist exactly once
            shipped = SHIPPED / case["file"]
            assert not shipped.exists() or text != shipped.read_text(encoding="utf-8"), where


def test_corpus_covers_every_code_and_file() -> None:
    codes = {e["code"] for c in CASES for e in c["expect"]}
    assert REQUIRED_CODES <= codes, sorted(REQUIRED_CODES - codes)
    files = {c["file"] for c in CASES}
    assert set(CONFIG_FILES) <= files, sorted(set(CONFIG_FILES) - files)
    assert len(CASES) >= 40


# --------------------------------------------------------------------------- schemas alone
# Algorithm-dependent parameters must give ONE clear error, whatever the lead's mapping does
# with it: an if/then per algorithm (no oneOf), so nothing needs untangling.

def _schema_errors(name: str, data) -> list:
    schema = json.loads(
        resources.files("deprules").joinpath("schemas", f"{name}.schema.json").read_text()
    )
    out = []
    for error in Draft202012Validator(schema).iter_errors(data):
        while error.context:
            error = best_match(error.context)
        out.append(error)
    return out


def _shipped(name: str):
    return load_yaml_file(SHIPPED / f"{name}.yaml").data


@pytest.mark.parametrize(
    "name, where, value, validator, words",
    [
        ("deposit_classes", ("deposit_classes", "RES", "good_customer"),
         {"algorithm": "LATEPAYMENTS"}, "required", ["'max_late_payments'"]),
        ("deposit_classes", ("deposit_classes", "RES", "refund_criteria"),
         {"algorithm": "REFUND-XX", "hold_months": 12}, "enum",
         ["REFUND-RES", "REFUND-COM", "DEPREFUND-NO"]),
        ("deposit_classes", ("deposit_classes", "RES", "refund_criteria"),
         {"algorithm": "DEPREFUND-NO", "hold_months": 12}, "additionalProperties",
         ["'hold_months'"]),
        ("deposit_classes", ("deposit_classes", "RES", "refund_criteria"),
         "REFUND-RES", "type", ["object"]),
        ("deposit_classes", ("deposit_classes", "RES", "good_customer"),
         {"algorithm": "LATEPAYMENTS", "max_late_payments": -1}, "minimum", ["0"]),
        ("deposit_classes", ("deposit_classes", "RES", "interest", "rates", 0, "annual_percent"),
         Decimal("0.11"), "type", ["string"]),
        ("write_off_controls", ("write_off_controls", "RES", "criteria", 2),
         {"algorithm": "WO-AP-ADJ"}, "required", ["'min_refund'"]),
        ("write_off_controls", ("write_off_controls", "RES", "criteria", 2),
         {"algorithm": "WO-REFUND", "min_refund": "1.00"}, "enum",
         ["WO-CRIT-NCD", "WO-WRITEDOWN", "WO-AP-ADJ", "WO-CRIT-DFLT"]),
        ("adjustment_types", ("adjustment_types", "DEPXFER"),
         {"description": "x", "category": "transfer", "ft_algorithm": "ADJT-NM"}, "required",
         ["'distribution_code'"]),
    ],
)
def test_schema_gives_one_clear_error(name, where, value, validator, words) -> None:
    data = _shipped(name)
    node = data
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    errors = _schema_errors(name, data)
    assert len(errors) == 1, [e.message for e in errors]
    (error,) = errors
    assert error.validator == validator, error.message
    for word in words:
        assert word in error.message, error.message
    if validator == "type" and words == ["string"]:
        assert "quoted decimal string" in error.schema["description"]


@pytest.mark.parametrize("name", [f[: -len(".yaml")] for f in CONFIG_FILES
                                  if (SHIPPED / f).exists()])
def test_shipped_files_match_their_schema(name: str) -> None:
    assert [e.message for e in _schema_errors(name, _shipped(name))] == []
