"""Every JSON document deprules prints, on real data, against the schema shipped for it.

Each command runs with ``--format json`` (simulate also writes impact.json); its document must
carry ``schema_version`` and validate against ``deprules/schemas/output/<kind>.schema.json``
(docs/json-output.md). The schemas let new keys appear (consumers ignore what they do not
know), so the test also validates against a strict copy: every key the command prints is one
the schema describes.
"""

from __future__ import annotations

import copy
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from helpers import acct, sa, write_extract

from deprules.cli import cli
from deprules.cli.common import SCHEMA_VERSION
from deprules.output_schemas import OUTPUT_SCHEMAS, load_output_schema

ON = "2026-11-21"


def strict(schema):
    """A copy where an object with ``properties`` accepts no other key."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node and \
                    "patternProperties" not in node:
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return schema


class Recorder:
    """Runs commands, keeps (kind, command, document) for every JSON document printed."""

    def __init__(self, runner: CliRunner):
        self.runner = runner
        self.docs: list[tuple[str, str, dict]] = []

    def __call__(self, kind: str, *args, code: int = 0, input: str | None = None) -> dict:
        argv = [str(a) for a in args] + ["--format", "json"]
        r = self.runner.invoke(cli, argv, input=input, catch_exceptions=False)
        assert r.exit_code == code, f"{' '.join(argv)}: exit {r.exit_code}\n{r.output}"
        doc = json.loads(r.stdout)
        self.docs.append((kind, " ".join(argv[:3]), doc))
        return doc


@pytest.fixture(scope="module")
def documents(root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("json")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("DEPRULES_USER", "csr1")
    try:
        yield _drive(Recorder(CliRunner()), root, tmp)
    finally:
        mp.undo()


def _drive(j: Recorder, root: Path, tmp: Path) -> Recorder:
    # configuration, rules, schemas
    j("validate", "validate")
    bad = tmp / "bad-config"
    shutil.copytree(root / "config", bad)
    (bad / "installation.yaml").write_text("currency: [\n")
    j("problems", "validate", "--config", bad, code=1)
    j("config-show", "config", "show", "--whatif", "-",
      input="deposit_classes:\n  RES:\n    refund_criteria:\n      hold_months: 18\n")
    j("config-show", "config", "show", "--on", "2027-01-01", "--set",
      "deposit_classes.RES.refund_criteria.hold_months=[{value: 12}, "
      "{effective: 2027-01-01, value: 18}]")
    j("problems", "config", "show", "--whatif", "-", code=1,
      input="deposit_classes:\n  RES:\n    refund_criteria:\n      hold_months: x\n")
    j("schema-export", "schema", "export", tmp / "schemas")
    j("rules-list", "rules", "list")
    j("rules-vocabulary", "rules", "vocabulary")

    # extracts
    extract = write_extract(
        tmp / "extract", [acct("A1"), acct("A2", credit_rating=100)],
        [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00"),
         sa("EL1", "E-RES", payoff="60.00", current="60.00"),
         sa("DEP2", "DEP-RES", start="2024-01-01", payoff="-80.00", account_id="A2")])
    j("evaluate", "evaluate", "A1", "--extract", extract, "--as-of", ON)
    j("evaluate", "evaluate", "A2", "--extract", extract, "--as-of", ON, "--explain")
    j("error", "evaluate", "A404", "--extract", extract, "--as-of", ON, code=2)
    j("extract-check", "extract", "check", extract)
    broken = write_extract(tmp / "broken", [acct("A1")],
                           [sa("DEP1", "DEP-RES", start="2024-13-01", payoff="-1.00")])
    j("extract-check", "extract", "check", broken, code=1)
    j("extract-convert", "extract", "convert", "--extract", extract, "--out", tmp / "conv")
    j("extract-index", "extract", "index", extract)
    j("extract-index", "extract", "index", broken)
    j("extract-generate", "extract", "generate", "--accounts", "5", "--out", tmp / "gen",
      "--file-format", "parquet")

    # simulate (stdout and impact.json)
    j("impact", "simulate", "--extract", "examples/extract", "--as-of", ON, "--whatif",
      "examples/whatif", "--out", tmp / "sim")
    j.docs.append(("impact", "simulate impact.json",
                   json.loads((tmp / "sim" / "impact.json").read_text())))
    j("impact", "simulate", "--extract", "examples/extract", "--as-of", ON, "--horizon", "2",
      "--set", "deposit_classes.RES.refund_criteria.hold_months=18")
    j("impact", "simulate", "--extract", "examples/extract", "--as-of", ON)

    # packs
    j("test", "test", "packs/seed/deprfnd.yaml", "--coverage")
    failing = tmp / "failing.yaml"
    failing.write_text(textwrap.dedent("""\
        given:
          account: {customer_class: RES, credit_rating: 100}
        scenarios:
          - name: fails
            given:
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01, payoff_balance: "-100.00", last_interest_date: 2026-11-21}
            when: {date: 2026-11-21}
            expect:
              service_agreements: {DEP1: {status: closed}}
        """))
    j("test", "test", failing, "--diff", code=1)
    j("problems", "test", "-", input="scenarios:\n  - name: x\n", code=1)
    j("pack-list", "pack", "list", "packs/seed")
    j("pack-capture", "pack", "capture", "A1", "--extract", extract, "--as-of", ON, "--out",
      tmp / "captured.yaml")

    # a store: batch, then every manual path
    store = tmp / "store"
    s = ["--store", store]
    j("ledger-init", "ledger", "init", "--extract", "examples/extract", *s)
    j("run", "run", "cycle", "--date", ON, *s)
    j("ledger-check", "ledger", "check", *s)
    j("ledger-show", "ledger", "show", "A0000001", *s)
    j("ledger-journal", "ledger", "journal", *s)
    j("ledger-export", "ledger", "export", *s, "--out", tmp / "exported")

    desk = write_extract(tmp / "desk", [acct()], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-1000.00",
           total_deposit_amount="1000.00"),
        sa("G1", "G-RES", start="2024-01-01", payoff="50.00", current="50.00"),
        sa("DEP2", "DEP-RES", start="2025-06-01", payoff="-300.00", total_deposit_amount="300.00",
           ),
        sa("E1", "E-RES", start="2024-01-01", payoff="40.00", current="40.00")])
    d = ["--store", tmp / "desk-store"]
    j("ledger-init", "ledger", "init", "--extract", desk, *d)
    waiting = j("csr-result", "refund", "partial", "DEP1", "--amount", "800.00",
                "--apply-to-debt", "--date", ON, *d)
    todos = j("todo-list", "todo", "list", "--type", "ADJ-APPROVAL", *d)["todos"]
    j("todo-show", "todo", "show", todos[0]["todo_id"], *d)
    j("csr-result", "adjust", "approve", waiting["ap_adjustment_id"], "--by", "sup1",
      "--date", ON, *d)
    j("csr-result", "deposit", "set-total", "DEP1", "--amount", "150.00", "--date", ON, *d)
    made = j("csr-result", "adjust", "create", "DEP1", "--type", "DEPAPREF", "--amount", "10.00",
             "--no-freeze", "--date", ON, *d)
    j("csr-result", "adjust", "freeze", made["adjustment"]["adjustment_id"], "--date", ON, *d)
    big = j("csr-result", "adjust", "create", "E1", "--type", "WRITEDWN", "--amount", "-600.00",
            "--date", ON, *d)
    j("csr-result", "adjust", "reject", big["adjustment"]["adjustment_id"], "--by", "sup1",
      "--date", ON, *d)
    pair = j("csr-result", "adjust", "transfer", "DEP2", "E1", "--amount", "10.00", "--overpay",
             "--date", ON, *d)
    j("csr-result", "adjust", "cancel", pair["adjustment_ids"][0], "--date", ON, *d)
    j("csr-result", "sa", "pending-stop", "DEP2", "--date", "2026-11-30", *d)
    j("csr-result", "sa", "stop", "DEP2", "--date", ON, *d)
    bill = j("csr-result", "bill", "final", "DEP2", "--date", ON, *d)
    j("csr-result", "bill", "complete", bill["bill_id"], "--date", ON, *d)
    left = next(x for x in j("ledger-show", "ledger", "show", "A1", *d)["service_agreements"]
                if x["sa_id"] == "DEP2")
    j("csr-result", "adjust", "create", "DEP2", "--type", "DEPAPREF", "--amount",
      left["payoff_balance"].lstrip("-"), "--date", ON, *d)
    j("csr-result", "sa", "close", "DEP2", "--date", ON, *d)
    j("error", "sa", "close", "DEP2X", "--date", ON, *d, code=2)
    j("ap-list", "ap", "list", *d)
    ap_file = tmp / "to-ap.csv"
    j("ap-export", "ap", "export", "--out", ap_file, "--date", ON, *d)
    batch = j("ap-batches", "ap", "batches", "--store", d[d.index("--store") + 1])[
        "batches"][0]["batch_id"]
    j("ap-resend", "ap", "resend", batch, "--out", tmp / "resent.csv", *d)
    paid = j("ap-paid", "ap", "paid", ap_file, "--date", ON, *d)
    j("csr-result", "ap", "returned", paid["request_ids"][0], "--reason", "came back",
      "--date", ON, *d)
    j("run", "run", "ADTIMEOUT", "--date", "2026-11-30", *d)

    # a DEPREF To Do, worked and completed
    cfg = tmp / "depref-config"
    shutil.copytree(root / "config", cfg)
    text = (cfg / "deposit_classes.yaml").read_text()
    head, com = text.split("\n  COM:", 1)
    (cfg / "deposit_classes.yaml").write_text(
        head + "\n  COM:" + com.replace("algorithm: APPLYDEPOSIT", "algorithm: DEPREF-TODO"))
    com_x = write_extract(tmp / "com", [acct(customer_class="COM")], [
        sa("DEP1", "DEP-COM", start="2023-06-01", payoff="-400.00", total_deposit_amount="400.00")])
    c = ["--store", tmp / "com-store", "--config", cfg]
    j("ledger-init", "ledger", "init", "--extract", com_x, *c)
    j("run", "run", "cycle", "--date", ON, *c)
    todo = j("todo-list", "todo", "list", "--type", "DEPREF", *c)["todos"][0]["todo_id"]
    j("csr-result", "todo", "work", todo, "--date", ON, *c)
    j("csr-result", "todo", "complete", todo, "--date", ON, *c)
    return j


def test_every_document_validates_against_its_schema(documents):
    kinds_seen = set()
    for kind, command, doc in documents.docs:
        kinds_seen.add(kind)
        assert doc.get("schema_version") == SCHEMA_VERSION, command
        schema = load_output_schema(kind)
        errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=str)
        assert not errors, f"{command}: {errors[0].message} at {list(errors[0].absolute_path)}"
        errors = sorted(Draft202012Validator(strict(schema)).iter_errors(doc), key=str)
        assert not errors, (f"{command} prints a key its schema {kind} does not describe: "
                            f"{errors[0].message} at {list(errors[0].absolute_path)}")
    # every shipped schema is exercised by a real document
    assert kinds_seen == set(OUTPUT_SCHEMAS), set(OUTPUT_SCHEMAS) ^ kinds_seen


def test_output_schemas_are_draft_2020_12_with_descriptions():
    for kind in OUTPUT_SCHEMAS:
        schema = load_output_schema(kind)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["description"] and schema["properties"]["schema_version"]
        assert "schema_version" in schema["required"]

        def walk(node, path):
            if isinstance(node, dict) and "properties" in node:
                for key, sub in node["properties"].items():
                    assert sub.get("description") or "$ref" in sub, f"{kind}: {path}.{key}"
                    walk(sub, f"{path}.{key}")
            if isinstance(node, dict):
                for k in ("items", "additionalProperties"):
                    if isinstance(node.get(k), dict):
                        walk(node[k], f"{path}[]")
                for k, sub in node.get("$defs", {}).items():
                    walk(sub, f"#{k}")

        walk(schema, "$")


def test_evaluate_contract_keys_keep_their_meaning(documents):
    """The evaluate --format json contract only grows: its keys are all still there."""
    doc = next(d for k, _, d in documents.docs if k == "evaluate")
    assert list(doc)[:4] == ["schema_version", "account_id", "as_of", "config_hash"]
    assert {"service_agreements", "adjustments", "checks", "todos", "trace"} <= set(doc)
