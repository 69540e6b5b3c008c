"""JSON Schema validation that speaks in file:line:col.

jsonschema errors are mapped to stable codes and located with the positions the
YAML loader kept. For oneOf/anyOf only the most relevant inner error is shown.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..errors import Problem
from ..yamlload import LoadedYaml

_CODES = {
    "required": "missing-key",
    "additionalProperties": "unknown-key",
    "unevaluatedProperties": "unknown-key",
    "type": "wrong-type",
    "enum": "unknown-value",
    "const": "unknown-value",
    "pattern": "bad-format",
    "format": "bad-format",
    "propertyNames": "bad-format",
    "minimum": "out-of-range",
    "maximum": "out-of-range",
    "exclusiveMinimum": "out-of-range",
    "exclusiveMaximum": "out-of-range",
    "minItems": "out-of-range",
    "maxItems": "out-of-range",
    "minLength": "out-of-range",
    "minProperties": "out-of-range",
}

SCHEMA_NAMES = (
    "installation",
    "deposit_classes",
    "sa_types",
    "adjustment_types",
    "write_off_controls",
    "todo_types",
    "approval_profiles",
    "users",
    "rules",
    "pack",
)


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    text = resources.files("deprules").joinpath("schemas", f"{name}.schema.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=None)
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def _leaf(error: ValidationError) -> ValidationError:
    while error.context:
        inner = best_match(error.context)
        if inner is None:
            break
        error = inner
    return error


def _text(value: Any) -> str:
    from decimal import Decimal

    return str(value) if isinstance(value, Decimal) else repr(value)


def _describe(error: ValidationError) -> str:
    if error.validator == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        desc = error.schema.get("description", "")
        hint = f" ({desc})" if desc and len(desc) < 120 else ""
        return f"{_text(error.instance)} is not of type {want}{hint}"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{error.instance!r} is not one of: {allowed}"
    if error.validator == "pattern":
        desc = error.schema.get("description", "")
        return f"{error.instance!r} does not have the expected form" + (f": {desc}" if desc else
                                                                     f" ({error.validator_value})")
    return error.message


def schema_problems(doc: LoadedYaml, schema_name: str) -> list[Problem]:
    """Validate ``doc`` against a shipped schema, one located problem per error."""
    problems: list[Problem] = []
    for error in _validator(schema_name).iter_errors(doc.data):
        error = _leaf(error)
        path = tuple(error.absolute_path)
        code = _CODES.get(str(error.validator), f"schema-{error.validator}")
        if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(
            error.instance, dict
        ):
            known = set(error.schema.get("properties", {}))
            patterns = error.schema.get("patternProperties", {})
            for key in error.instance:
                if key in known or any(re.search(p, key) for p in patterns):
                    continue
                hint = f"; expected one of: {', '.join(sorted(known))}" if known else ""
                problems.append(doc.problem(path + (key,), f"unknown key {key!r}{hint}",
                                            code, key=True))
            continue
        if error.validator == "propertyNames" or "propertyNames" in error.relative_schema_path:
            # the offending key is the instance
            problems.append(doc.problem(path + (error.instance,),
                                        f"key {error.instance!r} is not a valid code "
                                        "(capital letters, digits and dashes)", code, key=True))
            continue
        problems.append(doc.problem(path, _describe(error), code))
    return problems


def jsonable(value: Any) -> Any:
    """Decimals to text so a document can be hashed and printed as JSON."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def export_schemas(out_dir) -> list:
    """Write every shipped schema to ``out_dir``; returns the paths written."""
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in sorted(resources.files("deprules").joinpath("schemas").iterdir(),
                        key=lambda e: e.name):
        if entry.name.endswith(".schema.json"):
            target = out / entry.name
            target.write_text(entry.read_text())
            written.append(target)
    # the schemas of the JSON documents deprules prints (docs/json-output.md)
    from ..output_schemas import OUTPUT_SCHEMAS, schema_file

    (out / "output").mkdir(exist_ok=True)
    for kind in sorted(OUTPUT_SCHEMAS):
        target = out / "output" / f"{kind}.schema.json"
        target.write_text(schema_file(kind).read_text())
        written.append(target)
    # the decision service's requests and answers (GET /v1/schemas/NAME) and its OpenAPI
    # document (GET /openapi.json): docs/service.md, "Schemas and OpenAPI"
    (out / "http").mkdir(exist_ok=True)
    for file, text in sorted(http_schema_texts().items()):
        target = out / "http" / file
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def http_schema_texts() -> dict[str, str]:
    """File name -> text of what ``schema export`` writes under ``http/``: each HTTP schema
    of the service as ``NAME.schema.json`` (the document ``GET /v1/schemas/NAME`` answers)
    and ``openapi.json`` (``GET /openapi.json``), indented."""
    import json

    from ..http_schemas import http_schemas, openapi

    def text(doc: dict) -> str:
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    out = {f"{name}.schema.json": text(schema) for name, schema in http_schemas().items()}
    out["openapi.json"] = text(openapi())
    return out
