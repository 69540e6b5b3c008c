"""Generate the JSON Schemas of the documents deprules prints (--format json, impact.json).

    python tools/output_schemas.py          # rewrite src/deprules/schemas/output/ and schemas/output/
    python tools/output_schemas.py --check  # exit 1 if either is stale

This file is where the schemas are written; the JSON files are its output, shipped in the
package (deprules/schemas/output/) and exported to schemas/output/ (tests check both are
current). docs/json-output.md describes the same documents in prose.

Every schema is draft 2020-12 and self-contained (its shared parts in its own $defs). The
schemas accept keys they do not list (a later deprules may add keys without a new
schema_version); tests/test_json_output.py checks that every key printed today is listed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from deprules.output_schemas import OUTPUT_SCHEMAS  # noqa: E402

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://deprules.example/schemas/output/"
TARGETS = (ROOT / "src" / "deprules" / "schemas" / "output", ROOT / "schemas" / "output")


# ---- building blocks ----------------------------------------------------------------------------
def t(type_, description, **kw):
    return {"type": type_, "description": description, **kw}


def s(description, **kw):
    return t("string", description, **kw)


def i(description, **kw):
    return t("integer", description, **kw)


def b(description):
    return t("boolean", description)


def n(description, **kw):
    return t("number", description, **kw)


def ref(name, description=None):
    out = {"$ref": f"#/$defs/{name}"}
    if description:
        out["description"] = description
    return out


def nullable(schema):
    schema = dict(schema)
    if "$ref" in schema:
        return {"description": schema.pop("description", ""), "anyOf": [
            schema, {"type": "null"}]}
    schema["type"] = [schema["type"], "null"]
    return schema


def arr(description, items, **kw):
    return {"type": "array", "description": description, "items": items, **kw}


def obj(description, props, required=None, additional=None, **kw):
    out = {"type": "object", "description": description, "properties": props,
           "required": list(props) if required is None else required}
    if additional is not None:
        out["additionalProperties"] = additional
    out.update(kw)
    return out


def open_map(description, values):
    """An object whose keys are data (codes, rule ids, paths), each with a ``values`` value."""
    return {"type": "object", "description": description, "additionalProperties": values}


MONEY = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
         "description": "A money amount as decimal text with the installation's minor units "
                        "(e.g. \"-120.50\"): exact, never a float. Negative is a credit."}
DATE = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "description": "A date, YYYY-MM-DD."}
HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$",
        "description": "SHA-256 of the configuration and rules (as validate shows it)."}

DEFS = {
    "money": MONEY,
    "date": DATE,
    "config_hash": HASH,
    "problem": obj("One located problem of a file or table.", {
        "file": s("File (or <stdin>, or an extract table file) the problem is in."),
        "line": i("Line, 1-based (0 when the file itself is the problem)."),
        "column": i("Column, 1-based (0 when not known)."),
        "path": s("JSON path inside the document ($.a.b[0]), or the column of a table row; "
                  "empty when not known."),
        "message": s("What is wrong, for a person."),
        "code": s("A stable code for the kind of problem (e.g. missing-key, unknown-key, "
                  "wrong-type, yaml-syntax)."),
        "severity": s("error (the only severity today).", enum=["error", "warning"]),
    }),
    "sa": obj("A service agreement as the ledger holds it.", {
        "sa_id": s("SA id."),
        "sa_type": s("SA type code (config/sa_types.yaml)."),
        "status": s("SA status.", enum=["pending_start", "active", "pending_stop", "stopped",
                                        "reactivated", "closed", "canceled"]),
        "current_balance": ref("money", "Current balance."),
        "payoff_balance": ref("money", "Payoff balance."),
        "stop_date": nullable(ref("date", "Stop date, null when none.")),
        "total_deposit_amount": nullable(ref(
            "money", "Total deposit amount of a cash deposit SA; null for other SAs.")),
        "last_interest_date": nullable(ref(
            "date", "Interest is paid up to this day (exclusive); null when none was ever "
            "settled (then it counts from the start date). Moved by DEPINTRF and the stop.")),
    }),
    "sa_row": obj("A service agreement touched by the operation, after it.", {
        "sa_id": s("SA id."),
        "account_id": s("Account id."),
        "sa_type": s("SA type code."),
        "status": s("SA status."),
        "payoff_balance": ref("money", "Payoff balance."),
        "current_balance": ref("money", "Current balance."),
        "stop_date": nullable(ref("date", "Stop date, null when none.")),
        "total_deposit_amount": nullable(ref(
            "money", "Total deposit amount of a cash deposit SA; null for other SAs.")),
    }),
    "adjustment": obj("An adjustment of the account.", {
        "adjustment_id": s("Adjustment id."),
        "sa_id": s("SA it is on."),
        "adjustment_type": s("Adjustment type code (config/adjustment_types.yaml)."),
        "category": s("Its category (deposit_interest, sync_up, transfer, ap_refund, "
                      "current_only, write_down, deposit_charge)."),
        "amount": ref("money", "Amount; positive is a charge."),
        "status": s("incomplete, pending_approval, frozen or canceled."),
        "created_by": s("batch (a rule) or csr (by hand)."),
        "rule": s("Rule that made it; empty when made by hand."),
        "seed_step": s("Seed process step it implements."),
        "process": s("Process that made it (DEPINTRF, DEPRFND, SAACT, STOP, BILLING, WPM, CSR, AP)."),
        "twin_id": nullable(s("The other half of a transfer pair, or null.")),
    }),
    "adjustment_row": obj("The adjustment the operation is about, after it.", {
        "adjustment_id": s("Adjustment id."),
        "sa_id": s("SA it is on."),
        "adjustment_type": s("Adjustment type code."),
        "category": s("Its category."),
        "amount": ref("money", "Amount; positive is a charge."),
        "status": s("incomplete, pending_approval, frozen or canceled."),
        "created_by": s("batch or csr."),
        "user": s("Who made it (--by)."),
        "approved_by": nullable(s("Who approved it, or null.")),
        "rejected_by": nullable(s("Who rejected it, or null.")),
        "twin_id": nullable(s("The other half of a transfer pair, or null.")),
        "group_id": nullable(s("The partial refund it belongs to, or null.")),
    }),
    "bill": obj("A final bill segment.", {
        "bill_id": s("Bill id."),
        "sa_id": s("SA billed."),
        "amount": ref("money", "Amount."),
        "status": s("frozen or complete."),
        "due_date": nullable(ref("date", "Due date once complete, else null.")),
    }),
    "check": obj("A check request to A/P.", {
        "check_id": s("Check request id."),
        "sa_id": s("SA refunded."),
        "payee_account_id": s("Account paid."),
        "amount": ref("money", "Amount of the check."),
        "status": s("not_selected, requested, paid, canceled, hold, void or returned."),
        "adjustment_id": s("The A/P refund adjustment behind it."),
    }),
    "todo": obj("A To Do entry.", {
        "todo_id": s("To Do id."),
        "todo_type": s("To Do type (DEPREF, NCD-REDEEM, WO-MANUAL, ADJ-APPROVAL)."),
        "sa_id": s("SA it is about."),
        "role": s("Role it is for."),
        "status": s("open, being_worked or complete."),
        "message": s("What to do."),
    }),
    "todo_row": obj("A To Do entry with who works it.", {
        "todo_id": s("To Do id."),
        "todo_type": s("To Do type."),
        "account_id": s("Account."),
        "sa_id": s("SA it is about."),
        "role": s("Role it is for."),
        "status": s("open, being_worked or complete."),
        "message": s("What to do."),
        "created_on": ref("date", "Day it was created."),
        "adjustment_id": nullable(s("The adjustment an ADJ-APPROVAL To Do asks about, or null.")),
        "worked_by": nullable(s("Who took it, or null.")),
        "completed_on": nullable(ref("date", "Day it was completed, or null.")),
        "completed_by": nullable(s("Who completed it, or null.")),
    }),
    "check_row": obj("A check request as A/P sees it.", {
        "request_id": s("Check request id."),
        "payee_account_id": s("Account paid."),
        "payee_name": s("Payee name (empty when the extract has none)."),
        "amount": ref("money", "Amount of the check."),
        "date": ref("date", "Day the request was made."),
        "adjustment_id": s("The A/P refund adjustment behind it."),
        "sa_id": s("SA refunded."),
        "status": s("not_selected, requested, paid, canceled, hold, void or returned."),
    }),
    "change": obj("One journal entry a rule or operation wrote: its kind, the entity and the "
                  "details of that kind (e.g. from_status/to_status, amount, category).", {
                      "kind": s("Kind of change (status, adjustment, freeze, check, todo, bill, "
                                "bill_complete, interest_settled, refund_method, "
                                "pending_approval, todo_status, check_status, total_deposit, "
                                "approve, reject, cancel, stop_date, partial_refund, "
                                "approval_timeout, check_reversal)."),
                      "entity_id": s("Id of what changed."),
                      "sa_id": nullable(s("SA it concerns, when there is one.")),
                  }, required=["kind", "entity_id"], additional=True),
    "trace": obj("One rule that fired, in order.", {
        "process": s("Process (DEPINTRF, DEPRFND, SAACT, STOP, BILLING, WPM)."),
        "rule": s("Rule id (file stem/rule name)."),
        "seed_step": s("Seed process step the rule implements."),
        "sa_id": s("SA it fired on."),
        "outcome": s("What it did, in words."),
        "inputs": open_map("The facts and parameters its conditions saw (name -> value).",
                           True),
        "changes": arr("What it changed.", ref("change")),
    }),
    "why_not": obj("A rule that applies to an SA and did not fire, and why.", {
        "process": s("Process."),
        "rule": s("Rule id."),
        "seed_step": s("Seed process step."),
        "sa_id": s("SA."),
        "condition": s("The first condition that did not hold."),
        "detail": s("The value seen and what was needed."),
    }),
    "side_count": obj("A count under the baseline and the candidate.", {
        "baseline": i("Under the baseline."),
        "candidate": nullable(i("Under the candidate (null without one).")),
        "delta": nullable(i("candidate - baseline (null without a candidate).")),
    }, required=["baseline"]),
    "side_money": obj("Money under the baseline and the candidate.", {
        "baseline": ref("money", "Under the baseline."),
        "candidate": nullable(ref("money", "Under the candidate (null without one).")),
        "delta": nullable(ref("money", "candidate - baseline (null without a candidate).")),
    }, required=["baseline"]),
    "month_side": obj("One side of a month of the projection.", {
        "outcomes": open_map("Accounts per outcome at the end of the month.",
                             {"type": "integer"}),
        "money": open_map("Money moved in the month per category.", ref("money")),
    }),
    "rows": obj("Rows written per table.", {
        "accounts": i("Rows of accounts."),
        "service_agreements": i("Rows of service_agreements."),
        "non_cash_deposits": i("Rows of non_cash_deposits."),
        "financial_transactions": i("Rows of financial_transactions."),
    }),
    "coverage_part": obj("Covered of total, in percent.", {
        "covered": i("Items covered."),
        "total": i("Items."),
        "percent": n("covered / total * 100."),
    }),
}

VERSION = {"type": "integer", "const": 1,
           "description": "Version of this document's layout: 1. It changes only when a key "
                          "changes meaning or goes away; keys may be added at any time."}
OK_TRUE = {"type": "boolean", "const": True, "description": "true: the command succeeded."}
ACCOUNT_PARTS = {
    "service_agreements": arr("The account's SAs, by id.", ref("sa")),
    "adjustments": arr("Its adjustments, oldest first.", ref("adjustment")),
    "bills": arr("Its final bills.", ref("bill")),
    "checks": arr("Its check requests.", ref("check")),
    "todos": arr("Its To Do entries.", ref("todo")),
}


def doc(kind, title, description, props, required=None, **kw):
    props = {"schema_version": VERSION, **props}
    required = ["schema_version", *(list(props)[1:] if required is None else required)]
    return {"$schema": DRAFT, "$id": f"{BASE_ID}{kind}.schema.json", "title": title,
            "description": description, "type": "object", "properties": props,
            "required": required, **kw}


# ---- the documents ------------------------------------------------------------------------------
def documents() -> dict[str, dict]:
    d = {}
    d["validate"] = doc("validate", "deprules validate", "The configuration and rules are "
                        "valid (exit 0); when not, the document is a problems document.", {
                            "ok": OK_TRUE, "config_hash": ref("config_hash"),
                            "rules": i("Number of rules.")})
    d["problems"] = doc("problems", "Located problems", "Printed instead of a command's "
                        "result when its input (configuration, rules, overlay, pack file) has "
                        "problems: every one, located FILE:LINE:COL. Exit 1.", {
                            "ok": {"const": False, "type": "boolean",
                                   "description": "false: nothing was done."},
                            "problems": arr("Every problem, sorted by file and place.",
                                            ref("problem"), minItems=1)})
    d["error"] = doc("error", "An error", "Printed instead of a command's result when it is "
                     "refused or fails with a deprules error (an unknown account, a refused "
                     "ledger move, a locked or damaged store, ...). Exit 2 (usage and input "
                     "errors) or 1 (a finding such as a broken invariant).", {
                         "ok": {"const": False, "type": "boolean",
                                "description": "false: nothing was done (a changing command "
                                               "left the store as it was)."},
                         "error": s("The message, as text output prints it after 'error: '."),
                         "kind": s("The error's class: InputError, LedgerError, StoreError, "
                                   "StoreLockedError, InvariantError, EngineError, ...")})
    entry = obj("One entry of an effective-dated value.", {
        "effective": nullable(ref("date", "First process date it applies; null for the first "
                                          "entry, which holds from the start.")),
        "value": {"description": "The value, as the configuration file writes it."}})
    d["config-show"] = doc("config-show", "deprules config show", "The resolved "
                           "configuration after --whatif overlays and --set; with --on, as it "
                           "applies on that process date.", {
                               "config_hash": ref("config_hash"),
                               "on": nullable(ref("date", "--on: the process date the "
                                                          "configuration is shown for, or "
                                                          "null.")),
                               "config": open_map("Each configuration file (stem) with its "
                                                  "resolved content, as YAML would give it "
                                                  "(decimals as text); with --on every "
                                                  "effective-dated value is the value in "
                                                  "effect on that date.", {"type": "object"}),
                               "dated": arr("Every effective-dated value (docs/configuration.md"
                                            "), in file order.", obj("One effective-dated "
                                                                     "value.", {
                                   "path": s("Its --set path, e.g. deposit_classes.RES."
                                             "refund_criteria.hold_months."),
                                   "entries": arr("Its entries, oldest first.", entry),
                                   "value": {"description": "With --on: the value in effect "
                                                            "on that date."},
                                   "since": nullable(ref("date", "With --on: the effective date "
                                                                 "of the entry in effect (null: "
                                                                 "the first entry).")),
                                   "until": nullable(ref("date", "With --on: the next entry's "
                                                                 "effective date, the first day "
                                                                 "the value no longer applies "
                                                                 "(null: none).")),
                               }, required=["path", "entries"]))},
                           required=["config_hash", "config", "dated"])
    d["schema-export"] = doc("schema-export", "deprules schema export", "The schema files "
                             "written.", {
                                 "ok": OK_TRUE, "out_dir": s("The folder written to."),
                                 "written": arr("Every file written.", {"type": "string"})})
    d["rules-list"] = doc("rules-list", "deprules rules list", "Every rule of the rule book.", {
        "config_hash": ref("config_hash"),
        "rules": arr("The rules, by process and file order.", obj("A rule.", {
            "process": s("Process the rule belongs to."),
            "id": s("Rule id (file stem/name)."),
            "seed_step": s("Seed process step it implements."),
            "description": s("What it does."),
            "file": s("FILE:LINE where it is written."),
            "when": arr("Its conditions, as written.", {"type": "string"}),
            "then": arr("Its actions: a verb, or {verb: arguments}.",
                        {"type": ["string", "object"]}),
        }))})
    d["rules-vocabulary"] = doc("rules-vocabulary", "deprules rules vocabulary", "What a rule "
                                "may use.", {
        "fields": open_map("Fact fields by name.", obj("A fact field.", {
            "type": s("Its type."), "description": s("What it is.")})),
        "parameters": open_map("Configuration parameters by name.", obj("A parameter.", {
            "type": s("Its type."), "description": s("What it is.")})),
        "actions": open_map("Actions by verb.", obj("An action.", {
            "arguments": arr("Its arguments.", {"type": "string"}),
            "description": s("What it does.")})),
    })
    d["evaluate"] = doc("evaluate", "deprules evaluate", "One account after the automated "
                        "cycle on --as-of, in memory. A contract: keys are only ever added.", {
        "account_id": s("The account."),
        "as_of": ref("date", "The process date."),
        "config_hash": ref("config_hash"),
        **ACCOUNT_PARTS,
        "trace": arr("Every rule that fired, in order.", ref("trace")),
        "why_not": arr("With --explain: the rules that did not fire, and why.", ref("why_not")),
    }, required=["account_id", "as_of", "config_hash", *ACCOUNT_PARTS, "trace"])
    d["extract-check"] = doc("extract-check", "deprules extract check", "The problems of an "
                             "extract folder (exit 1 when there are some).", {
                                 "ok": b("true when there is no problem."),
                                 "problems": arr("Every problem, located table:row:column.",
                                                 ref("problem"))})
    d["extract-generate"] = doc("extract-generate", "deprules extract generate", "The "
                                "synthetic extract written.", {
        "ok": OK_TRUE, "out_dir": s("The folder written."),
        "file_format": s("csv or parquet.", enum=["csv", "parquet"]),
        "seed": i("The seed."), "as_of": ref("date", "The date the extract is taken."),
        "rows": ref("rows"),
        "index": nullable(s("The index written beside a CSV extract (OUT/deprules.index, "
                            "see extract index); null for Parquet."))})
    d["extract-index"] = doc("extract-index", "deprules extract index", "The index of a CSV "
                             "extract written (DIR/deprules.index), table by table.", {
        "ok": OK_TRUE, "extract": s("The extract folder."),
        "index": s("The index file written."),
        "tables": arr("Every CSV table of the folder.", obj("One CSV table file.", {
            "table": s("The table."), "file": s("Its file name."),
            "status": s("indexed, or not-indexed: evaluate streams the file (it has a "
                        "problem extract check reports).", enum=["indexed", "not-indexed"]),
            "rows": i("Data lines of the file (0 when not indexed)."),
            "reason": s("Why the file is not indexed."),
            "columns": open_map("The column searched by id, and how its rows are found: "
                                "sorted (the file is in its order: one record per block of "
                                "lines) or dense (one record per line).",
                                s("sorted or dense.", enum=["sorted", "dense"]))},
            required=["table", "file", "status", "rows"]))})
    d["extract-convert"] = doc("extract-convert", "deprules extract convert", "The extract "
                               "written as Parquet sorted by account.", {
        "ok": OK_TRUE, "extract": s("The extract folder read."),
        "out_dir": s("The folder written."),
        "file_format": s("Always parquet.", enum=["parquet"]),
        "row_group_rows": i("Rows per Parquet row group."),
        "rows": ref("rows")})
    d["impact"] = doc("impact", "deprules simulate / impact.json", "The impact of a what-if: "
                      "baseline and candidate over an extract. simulate --format json prints "
                      "it; --out writes the same as impact.json.", {
        "deprules_version": s("The deprules version that wrote it."),
        "as_of": ref("date", "First process date."),
        "process_dates": arr("Every process date run.", ref("date")),
        "horizon_months": nullable(i("--horizon, or null.")),
        "currency": s("Installation currency."),
        "minor_units": i("Digits after the decimal point of money."),
        "baseline": obj("The baseline configuration.", {"config_hash": ref("config_hash")}),
        "candidate": nullable(obj("The candidate configuration, or null without --whatif, "
                                  "--set and --candidate-rules.", {
            "config_hash": ref("config_hash"),
            "changes": arr("Every value that differs from the baseline.", obj("A change.", {
                "path": s("The value's --set path."),
                "baseline": {"description": "The baseline value (null when absent)."},
                "candidate": {"description": "The candidate value (null when absent)."}})),
            "rules": s("With --candidate-rules: the candidate's rules folder."),
            "rule_changes": arr("With --candidate-rules: the rules it adds, removes or words "
                                "differently, by id.", obj("A rule change.", {
                "rule": s("Rule id."),
                "change": s("added, removed or changed.", enum=["added", "removed", "changed"]),
                "file": s("Where the rule is (FILE:LINE; the baseline's for a removed one).")},
                required=["rule", "change", "file"])),
        }, required=["config_hash", "changes"])),
        "accounts": i("Accounts in the extract."),
        "changed_accounts": i("Accounts whose outcome or money differs."),
        "changed_money_accounts": i("With a candidate: changed accounts whose money differs "
                                    "in any category."),
        "changed_label_only_accounts": i("With a candidate: changed accounts with the same "
                                         "money and only another outcome name (e.g. "
                                         "not_eligible_credit_rating -> "
                                         "not_eligible_months_held)."),
        "outcomes": open_map("Accounts per outcome.", ref("side_count")),
        "money": open_map("Money per category.", ref("side_money")),
        "by_customer_class": open_map("The same per customer class.", obj(
            "One customer class.", {
                "accounts": i("Accounts of the class."),
                "changed_accounts": i("Changed accounts of the class."),
                "outcomes": open_map("Accounts per outcome.", ref("side_count")),
                "money": open_map("Money per category.", ref("side_money"))})),
        "by_deposit_class": open_map(
            "The same per account deposit class: the classes of the account's cash deposit "
            "SAs, sorted and joined with + (COM+RES), or none without one.", obj(
                "One deposit class.", {
                    "accounts": i("Accounts of the deposit class."),
                    "changed_accounts": i("Changed accounts of the deposit class."),
                    "outcomes": open_map("Accounts per outcome.", ref("side_count")),
                    "money": open_map("Money per category.", ref("side_money"))})),
        "transitions": open_map("With a candidate: baseline outcome -> candidate outcome -> "
                                "accounts.", open_map("Candidate outcomes.",
                                                      {"type": "integer"})),
        "examples": arr("With a candidate: per transition with changed accounts, most "
                        "accounts first, its first example accounts.", obj("A transition.", {
            "from": s("Baseline outcome."), "to": s("Candidate outcome."),
            "money_changed_accounts": i("Its accounts whose money differs."),
            "label_only_accounts": i("Its accounts with the same money (only the outcome's "
                                     "name changed)."),
            "accounts": i("Accounts that moved so."),
            "by_customer_class": open_map("Its accounts per customer class.",
                                          {"type": "integer"}),
            "by_deposit_class": open_map("Its accounts per deposit class.",
                                         {"type": "integer"}),
            "by_class": open_map("Its accounts per customer class, then per deposit class.",
                                 open_map("Deposit classes.", {"type": "integer"})),
            "examples": arr("The first accounts by id of each customer class and deposit "
                            "class (at most 5 of each), in account id order.",
                            obj("An account.", {
                "account_id": s("Account."), "customer_class": s("Its class."),
                "deposit_class": s("Its deposit class (as in by_deposit_class)."),
                "rule_baseline": s("Rule that decided the baseline outcome."),
                "rule_candidate": s("Rule that decided the candidate outcome."),
                "money_delta": open_map("Money change per category.", ref("money")),
                "reason": s("Why it moved."),
                "money_baseline": open_map("Baseline money per category.", ref("money")),
                "money_candidate": open_map("Candidate money per category.", ref("money")),
            }, required=["account_id", "customer_class", "rule_baseline", "rule_candidate",
                         "money_delta"]))})),
        "distributions": obj("Accounts counted in bins of money (each bin lower <= amount "
                             "< upper; null: unbounded).", {
            "refund_amounts": arr("Refund checks per account with a refund, baseline and "
                                  "candidate.", obj("A bin.", {
                "lower": nullable(ref("money", "Lower bound (included).")),
                "upper": nullable(ref("money", "Upper bound (excluded), null: none.")),
                "baseline": i("Accounts of the baseline in the bin."),
                "candidate": i("Accounts of the candidate in the bin (with one)."),
            }, required=["lower", "upper", "baseline"])),
            "refund_changes": arr("With a candidate: per changed account, candidate minus "
                                  "baseline refund checks.", obj("A bin.", {
                "lower": nullable(ref("money", "Lower bound (included), null: none.")),
                "upper": nullable(ref("money", "Upper bound (excluded), null: none.")),
                "accounts": i("Changed accounts in the bin.")})),
        }, required=["refund_amounts"]),
        "monthly": arr("With --horizon: one entry per process date.", obj("A month.", {
            "month": i("1, 2, ..."), "process_date": ref("date", "Its process date."),
            "baseline": ref("month_side", "Baseline."),
            "candidate": ref("month_side", "Candidate (with one)."),
            "delta": open_map("With a candidate: candidate minus baseline money of the "
                              "month, per category.", ref("money")),
            "cumulative_delta": open_map("With a candidate: the deltas of months 1 to this "
                                         "one, summed, per category.", ref("money")),
        }, required=["month", "process_date", "baseline"])),
    }, required=["as_of", "process_dates", "horizon_months", "currency", "minor_units",
                 "baseline", "candidate", "accounts", "changed_accounts", "outcomes", "money",
                 "by_customer_class", "by_deposit_class"])
    item = lambda desc, extra: obj(desc, {  # noqa: E731
        "rule": s("Rule id."), **extra})
    cov_items = lambda desc, it: obj(desc, {  # noqa: E731
        "covered": i("Covered."), "total": i("Total."), "percent": n("Percent."),
        "items": arr("Each item.", it)})
    d["test"] = doc("test", "deprules test", "Results of the regression scenarios (exit 1 "
                    "when one fails or errs).", {
        "ok": b("true when every scenario passed (and coverage is not below --fail-under)."),
        "summary": obj("Counts.", {
            "scenarios": i("Scenarios run."), "passed": i("Passed."), "failed": i("Failed."),
            "error": i("Could not run."), "duration_s": n("Seconds, all scenarios."),
            "ok": b("true when none failed or erred.")}),
        "scenarios": arr("Every scenario, in run order.", obj("A scenario's result.", {
            "name": s("Scenario name."), "file": s("Pack file (or <stdin>)."),
            "line": i("Line of the scenario in it."), "id": s("FILE::NAME."),
            "seed_steps": arr("Seed steps it covers.", {"type": "string"}),
            "status": s("passed, failed or error.", enum=["passed", "failed", "error"]),
            "duration_s": n("Seconds."),
            "config_hash": s("Hash of the configuration it ran with (its overlays included)."),
            "mismatches": arr("Each field whose expected and actual values differ.", obj(
                "A mismatch.", {"field": s("The expected field (a path)."),
                                "expected": {"description": "Expected value."},
                                "actual": {"description": "Actual value."},
                                "detail": arr("More lines.", {"type": "string"})},
                required=["field", "expected", "actual"])),
            "problems": arr("Why it could not run (status error).", ref("problem")),
            "trace": arr("Rules fired and manual steps, per account.", obj(
                "A trace entry (as evaluate's) with its account.",
                {"account_id": s("Account."), **DEFS["trace"]["properties"]})),
        })),
        "coverage": obj("With --coverage: rule, condition and threshold coverage.", {
            "scenarios": i("Scenarios counted."),
            "rules": cov_items("Rules fired.", item("A rule.", {
                "process": s("Process."), "seed_step": s("Seed step."),
                "fired": b("Fired in some scenario."),
                "scenarios": arr("Scenarios it fired in.", {"type": "string"})})),
            "conditions": cov_items("Conditions seen true and false.", item("A condition.", {
                "seed_step": s("Seed step."), "index": i("Condition index in the rule."),
                "condition": s("The condition."), "seen_true": b("Seen true."),
                "seen_false": b("Seen false.")})),
            "thresholds": cov_items("Thresholds met on both sides and on the point.",
                                    item("A threshold condition.", {
                "seed_step": s("Seed step."), "index": i("Condition index."),
                "condition": s("The condition."), "class": s("Deposit or customer class."),
                "field": s("Fact field compared."), "op": s("Comparison."),
                "parameters": arr("Parameters compared with.", {"type": "string"}),
                "values": arr("Their values.", {"type": "string"}),
                "seen_true": b("Seen true."), "seen_false": b("Seen false."),
                "on_point": b("Seen exactly at the threshold.")})),
            "total": ref("coverage_part", "All items together."),
            "seed_steps": open_map("Per seed step: item indexes and scenarios.", obj(
                "A seed step.", {
                    "rules": arr("Indexes into rules.items.", {"type": "integer"}),
                    "conditions": arr("Indexes into conditions.items.", {"type": "integer"}),
                    "thresholds": arr("Indexes into thresholds.items.", {"type": "integer"}),
                    "scenarios": arr("Scenarios covering it.", {"type": "string"})})),
            "fail_under": n("--fail-under, when given."),
        }, required=["scenarios", "rules", "conditions", "thresholds", "total"]),
        "updates": arr("With --diff or --update: each pack file's change.", obj("A file.", {
            "file": s("Pack file."), "scenarios": arr("Scenarios updated.",
                                                       {"type": "string"}),
            "diff": s("Unified diff."), "written": b("true with --update.")})),
    }, required=["ok", "summary", "scenarios"])
    d["pack-list"] = doc("pack-list", "deprules pack list", "The scenarios of pack files.", {
        "scenarios": arr("Scenarios, in file order.", obj("A scenario.", {
            "id": s("FILE::NAME."), "file": s("Pack file."), "line": i("Line in it."),
            "name": s("Name."), "seed_steps": arr("Seed steps.", {"type": "string"}),
            "description": s("Description (may be empty).")}))})
    d["pack-capture"] = doc("pack-capture", "deprules pack capture", "The pack file written "
                            "(with --out - the pack itself is the output, not this).", {
        "ok": OK_TRUE, "file": s("Pack file written."), "scenarios": i("Scenarios in it."),
        "account_ids": arr("Accounts captured.", {"type": "string"}),
        "as_of": ref("date", "Process date of the cycle."),
        "reference": b("--reference: the accounts are named (from_extract:), not copied.")})
    d["ledger-init"] = doc("ledger-init", "deprules ledger init", "The store created.", {
        "ok": OK_TRUE, "store": s("Store folder."), "accounts": i("Accounts loaded."),
        "service_agreements": i("SAs loaded."), "config_hash": ref("config_hash")})
    d["ledger-show"] = doc("ledger-show", "deprules ledger show", "One account of a store "
                           "with its journal.", {
        "account_id": s("The account."),
        "generation": i("Store generation read."),
        **ACCOUNT_PARTS,
        "journal": arr("Every change of the account, in order.", obj("A journal entry.", {
            "seq": i("Sequence number in the account."), "on": ref("date", "Day."),
            "kind": s("Kind of change (as in change)."), "entity_id": s("What changed."),
            "sa_id": nullable(s("SA, when there is one.")),
            "process": s("Process (DEPRFND ... WPM, CSR, AP)."),
            "rule": s("Rule, or empty for a manual change."),
            "seed_step": s("Seed step."), "run_id": s("Run that made it."),
            "user": s("Who (--by, or batch)."), "reason": s("Why (--reason)."),
            "detail": open_map("The details of that kind.", True)})),
    })
    d["ledger-check"] = doc("ledger-check", "deprules ledger check", "Invariant findings of "
                            "a store (exit 1 when there are some).", {
        "ok": b("true when every invariant holds."), "generation": i("Generation checked."),
        "accounts": i("Accounts checked."),
        "problems": arr("Each broken invariant, in words.", {"type": "string"})})
    d["ledger-journal"] = doc("ledger-journal", "deprules ledger journal", "The store's "
                              "commit journal, oldest first (the last --limit entries).", {
        "store": s("Store file."),
        "entries": arr("Commits.", obj("A commit, audited: when (UTC), the process date, who, "
                                       "the command, its run id and configuration hash, and "
                                       "its summary (the keys of that command's summary).", {
            "seq": i("Sequence number of the commit (1 for ledger init)."),
            "utc": s("When it committed, ISO 8601 in UTC."),
            "process_date": {"type": ["string", "null"], "description":
                             "The process date it ran for (null for ledger init)."},
            "user": s("Who ran it (--by)."),
            "command": s("The command, e.g. 'run cycle 2026-11-21'."),
            "kind": s("init (ledger init), run (a batch process) or manual (a CSR, To Do, approval or A/P command)."),
            "run_id": s("Run id."),
            "config_hash": ref("config_hash"),
            "reason": s("--reason."),
            "host": s("Host it ran on."), "pid": i("Its process id."),
        }, required=["seq", "utc", "user", "command", "kind", "run_id", "config_hash"],
            additional=True))})
    d["ledger-export"] = doc("ledger-export", "deprules ledger export", "The extract folder "
                             "written from a store.", {
        "ok": OK_TRUE, "store": s("Store folder."), "generation": i("Generation exported."),
        "out_dir": s("Folder written."), "file_format": s("csv or parquet.",
                                                          enum=["csv", "parquet"]),
        "rows": ref("rows")})
    d["run"] = doc("run", "deprules run", "What a batch process (or the cycle) did.", {
        "process": s("DEPINTRF, DEPRFND, SAACT, STOP, BILLING, WPM or cycle."),
        "date": ref("date", "Process date."), "run_id": s("Run id."),
        "accounts": i("Accounts processed."), "accounts_changed": i("Accounts changed."),
        "rules_fired": open_map("Times each rule fired.", {"type": "integer"}),
        "money_by_category": open_map("Money posted per adjustment category.", ref("money")),
        "checks_requested": i("Check requests made."),
        "todos_created": open_map("To Dos created per type.", {"type": "integer"})})
    d["csr-result"] = doc("csr-result", "A manual operation's result", "What a CSR, "
                          "approver or To Do command did: the action, a message, the journal "
                          "entries it wrote and the SAs they touched, then the action's own "
                          "figures. An operation that changed nothing has no changes (and made "
                          "no new generation).", {
        "ok": OK_TRUE,
        "action": s("The operation.", enum=[
            "partial_refund", "pending_stop", "stop", "final_bill", "complete_bill", "close",
            "todo_work", "todo_complete", "transfer", "create_adjustment", "freeze",
            "cancel", "approve", "reject", "set_total", "ap_hold", "ap_release", "ap_void",
            "ap_returned"]),
        "account_id": s("The account."),
        "message": s("What happened, for a person (the text output's first line)."),
        "changes": arr("The journal entries written.", ref("change")),
        "service_agreements": arr("The SAs touched, after the operation.", ref("sa_row")),
        # the actions' own figures
        "group_id": s("partial_refund: its id."),
        "amount": ref("money", "partial_refund, transfer, final_bill: the amount."),
        "overpaid": ref("money", "transfer with --overpay: what went beyond the target's debt and stays on it as a credit (0.00 otherwise)."),
        "transfers": arr("partial_refund, complete_bill: credit applied to debt per SA.",
                         obj("A transfer.", {"sa_id": s("SA paid."),
                                             "amount": ref("money", "Amount.")})),
        "ap_refund": ref("money", "partial_refund: the part refunded by check."),
        "ap_adjustment_id": nullable(s("partial_refund: its A/P refund adjustment, or null.")),
        "check_id": nullable(s("partial_refund, create_adjustment, approve: the check request "
                               "made, or null.")),
        "current_only": ref("money", "partial_refund: the current-only adjustment's amount."),
        "waits_for_approval": b("partial_refund: true when it waits for approval."),
        "stop_date": ref("date", "stop: the stop date."),
        "rules": arr("stop, complete_bill: the rules that ran.", {"type": "string"}),
        "interest": ref("money", "stop: interest posted."),
        "sync_up": ref("money", "stop: the sync-up amount."),
        "bill_id": s("final_bill, complete_bill: the bill."),
        "due_date": ref("date", "complete_bill: due date."),
        "refund_method": s("complete_bill: the refund method run."),
        "todos": arr("complete_bill: To Dos made.", {"type": ["string", "object"]}),
        "todo_id": s("todo_work, todo_complete: the To Do."),
        "adjustment_ids": arr("transfer, cancel: the adjustments; ap_void, ap_returned: the "
                              "adjustments that put the check's money back.",
                              {"type": "string"}),
        "status": s("ap_void, ap_returned: the check request's new status (void or returned)."),
        "adjustment_id": s("ap_void, ap_returned: the adjustment reversing the refund."),
        "total_deposit_back": ref("money", "ap_void, ap_returned: what went back into the "
                                           "deposit's total deposit amount (a partial refund's "
                                           "check on an active deposit; 0.00 otherwise)."),
        "adjustment": ref("adjustment_row", "create_adjustment, freeze, approve, reject: the "
                                            "adjustment after it."),
    }, required=["ok", "action", "account_id", "message", "changes", "service_agreements"])
    d["todo-list"] = doc("todo-list", "deprules todo list", "To Do entries, most urgent "
                         "first: by their type's priority, then oldest first.", {
        "todos": arr("The To Dos.", obj("A To Do entry with who works it and its priority.", {
            **DEFS["todo_row"]["properties"],
            "priority": nullable(i("Its To Do type's priority (todo_types.yaml; 1 is the most "
                                   "urgent), or null for a type no longer configured.")),
        }, required=[*DEFS["todo_row"]["properties"], "priority"]))})
    d["todo-show"] = doc("todo-show", "deprules todo show", "One To Do with its account's "
                         "SAs and the adjustment it asks about.", {
        **DEFS["todo_row"]["properties"],
        "service_agreements": arr("The account's SAs.", ref("sa_row")),
        "adjustment": ref("adjustment_row", "The adjustment of an ADJ-APPROVAL To Do."),
    }, required=[*DEFS["todo_row"]["properties"], "service_agreements"])
    d["ap-list"] = doc("ap-list", "deprules ap list", "Check requests of the store.", {
        "check_requests": arr("The requests, by account.", ref("check_row"))})
    ap_common = {"ok": OK_TRUE, "file": s("The A/P file (- for standard input or output).")}
    d["ap-export"] = doc("ap-export", "deprules ap export", "Check requests written for A/P "
                         "and now requested.", {
        **ap_common, "action": {"const": "ap_export", "type": "string",
                                "description": "ap_export."},
        "requests": i("Requests exported."), "amount": ref("money", "Their total."),
        "request_ids": arr("Their ids.", {"type": "string"})})
    d["ap-paid"] = doc("ap-paid", "deprules ap paid", "Check requests marked paid.", {
        **ap_common, "action": {"const": "ap_paid", "type": "string",
                                "description": "ap_paid."},
        "paid": i("Requests marked paid."), "amount": ref("money", "Their total."),
        "request_ids": arr("Their ids.", {"type": "string"})})
    d["ap-batches"] = doc("ap-batches", "deprules ap batches", "The A/P files exported.", {
        "batches": arr("In the order they were exported.", {
            "type": "object", "description": "One exported A/P file.", "properties": {
                "batch_id": s("The batch (the export's run id)."),
                "generation": i("The store generation the export committed."),
                "file": s("Where it was written (<stdout> for standard output)."),
                "requests": i("Check requests in it."),
                "amount": ref("money", "Their total."),
                "sha256": s("SHA-256 of the file's content."),
                "delivered": b("Whether the file was linked into place (an export killed "
                               "after its commit is delivered by the next one).")}})})
    d["ap-resend"] = doc("ap-resend", "deprules ap resend", "An exported A/P file written "
                         "again.", {
        **ap_common, "action": {"const": "ap_resend", "type": "string",
                                "description": "ap_resend."},
        "batch_id": s("The batch resent."), "requests": i("Check requests in it."),
        "sha256": s("SHA-256 of the content written (the export's).")})
    return d


def _refs(node, found):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith("#/$defs/"):
            name = r.split("/")[-1]
            if name not in found:
                found.add(name)
                _refs(DEFS[name], found)
        for v in node.values():
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)
    return found


def build() -> dict[str, str]:
    """kind -> the text of its schema file."""
    out = {}
    docs = documents()
    assert set(docs) == set(OUTPUT_SCHEMAS), set(docs) ^ set(OUTPUT_SCHEMAS)
    for kind in OUTPUT_SCHEMAS:
        schema = docs[kind]
        used = sorted(_refs(schema, set()))
        if used:
            schema["$defs"] = {name: DEFS[name] for name in used}
        out[kind] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale files")
    args = ap.parse_args()
    texts = build()
    stale = []
    for folder in TARGETS:
        names = {f"{k}.schema.json" for k in texts}
        present = {p.name for p in folder.glob("*.schema.json")} if folder.exists() else set()
        for kind, text in texts.items():
            path = folder / f"{kind}.schema.json"
            if not path.exists() or path.read_text() != text:
                stale.append(path)
                if not args.check:
                    folder.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
        for extra in sorted(present - names):
            stale.append(folder / extra)
            if not args.check:
                (folder / extra).unlink()
    for p in stale:
        print(f"{'stale' if args.check else 'wrote'}: {p.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
