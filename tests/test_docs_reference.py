"""The reference documents cannot go stale: each is checked against the code it describes.

- docs/extract-format.md: every table and column the reader knows (with whether the column
  is needed and whether a blank cell is allowed), every problem code the reader can emit,
  every SA status, non-cash deposit type and shipped configured code, and the limits;
- docs/outcomes.md: every outcome a simulation can give and every adjustment category;
- docs/exit-codes.md: every exit code the command line can end with.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from conftest import ROOT

SRC = ROOT / "src" / "deprules"


def _section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of the same or higher level."""
    m = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.M)
    assert m, f"no heading {heading!r}"
    level = len(m.group(1))
    rest = text[m.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[:end.start()] if end else rest


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row (header and separator rows excluded)."""
    rows = []
    for line in text.splitlines():
        if re.match(r"^\|[-| ]+\|$", line):
            rows.pop()  # the row above the separator is the header
        elif line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _codes_in(path, pattern=r'"([a-z]+(?:-[a-z]+)+)"') -> set[str]:
    return set(re.findall(pattern, path.read_text()))


# ---------------------------------------------------------------- extract format

EXTRACT_DOC = (ROOT / "docs" / "extract-format.md").read_text()


@pytest.mark.parametrize("table", ["accounts", "service_agreements", "non_cash_deposits",
                                   "financial_transactions"])
def test_every_column_is_documented_as_the_reader_knows_it(table):
    from deprules.extract import TABLES

    rows = {r[0].strip("`"): r for r in _table_rows(_section(EXTRACT_DOC, f"`{table}`"))
            if r[0].startswith("`")}
    assert list(rows) == [c.name for c in TABLES[table]], "columns, in the reader's order"
    for c in TABLES[table]:
        _name, _type, needed, blank = rows[c.name][:4]
        assert needed == ("yes" if c.required else "no"), f"{table}.{c.name}: column needed"
        assert (blank == "refused") == (not c.nullable), f"{table}.{c.name}: blank cell"


def test_required_tables():
    from deprules.extract.context import REQUIRED_TABLES, TABLES

    rows = {r[0].strip("`"): r for r in _table_rows(_section(EXTRACT_DOC, "The folder"))}
    assert set(rows) == set(TABLES)
    for table in TABLES:
        assert rows[table][2].startswith("yes") == (table in REQUIRED_TABLES), table


def test_every_problem_code_of_the_reader_is_documented_and_no_other():
    # the full reader and what it shares with evaluate's: file checks, byte scan, cell rules
    reader = set().union(*(_codes_in(SRC / "extract" / f"{m}.py")
                           for m in ("reader", "cells", "files", "scan")))
    streaming = _codes_in(SRC / "extract" / "single.py")
    rows = _table_rows(_section(EXTRACT_DOC, "Problems"))
    documented = {r[0].strip("`") for r in rows if r[0].startswith("`")}
    assert reader == documented, (f"undocumented: {sorted(reader - documented)}; "
                                  f"no longer emitted: {sorted(documented - reader)}")
    assert streaming <= documented, sorted(streaming - documented)


def test_statuses_and_non_cash_deposit_types():
    from deprules.extract.context import NCD_TYPES, STATUS_CODES

    rows = {r[0].strip("`"): r[1].strip("`")
            for r in _table_rows(_section(EXTRACT_DOC, "SA status"))}
    assert rows == STATUS_CODES
    ncd = _section(EXTRACT_DOC, "Non-cash deposit types")
    for name in NCD_TYPES:
        assert f"`{name}`" in ncd


def test_the_shipped_configured_codes_are_listed(setup):
    config = setup.config
    rows = {r[0].strip("`"): r[1] for r in _table_rows(_section(EXTRACT_DOC, "Configured codes"))}
    listed = {k: set(re.findall(r"`([A-Z][A-Z-]*)`", v)) for k, v in rows.items()}
    assert listed["customer_class"] == set(config.installation.customer_classes)
    assert listed["deposit_class"] == set(config.deposit_classes)
    assert listed["sa_type"] == set(config.sa_types)
    assert f"minor_units` in the configuration ({config.installation.minor_units} in" in EXTRACT_DOC


def test_limits():
    from deprules.extract import reader

    limits = _section(EXTRACT_DOC, "Limits")
    assert f"{reader.DEFAULT_MAX_ROWS:,}" in limits and reader.MAX_ROWS_ENV in limits
    assert f"years {reader.MIN_YEAR} to {reader.MAX_YEAR}" in limits
    assert f"At most {reader.CAP} problems are shown per file and code" in EXTRACT_DOC


# ---------------------------------------------------------------- outcomes

OUTCOMES_DOC = (ROOT / "docs" / "outcomes.md").read_text()


def _documented_outcomes() -> set[str]:
    return {m for m in re.findall(r"^\| (?:\d+ \| )?`([a-z_A-Z0-9<>-]+)`", OUTCOMES_DOC, re.M)}


def test_the_fixed_outcomes_are_documented_in_their_order():
    from deprules.simulate.outcomes import _RANK

    rows = _table_rows(_section(OUTCOMES_DOC, "How an outcome is chosen"))
    names = [r[1].strip("`") for r in rows if r[0].isdigit()]
    # the code's order of significance, with the prefixes spelled as the document does
    spelled = [k + "<TYPE>" if k == "todo_" else k + "<reason>" if k.endswith("_") else k
               for k in sorted(_RANK, key=_RANK.get)]
    assert names == spelled


def _todo_types(setup) -> set[str]:
    """Every To Do type the shipped rules can create in a cycle."""
    from deprules.rules.vocabulary import CRITERIA_ALIASES

    types = set()
    for rule in setup.book.rules:
        for action in rule.then:
            if action.verb != "create_todo":
                continue
            value = str(action.args["type"])
            m = re.fullmatch(r"write_off\.(\w+)\.todo_type", value)
            if m is None:
                types.add(value)
                continue
            algorithm = CRITERIA_ALIASES[m.group(1)]
            for control in setup.config.write_off_controls.values():
                types.update(c.todo_type for c in control.criteria
                             if c.algorithm == algorithm and c.todo_type)
    return types


def test_every_to_do_outcome_is_documented(setup):
    types = _todo_types(setup)
    assert types >= {"DEPREF", "NCD-REDEEM", "WO-MANUAL"}
    assert {f"todo_{t}" for t in types} <= _documented_outcomes()


def _not_eligible_reasons() -> set[str]:
    """Every reason the simulator can give, by asking it about each condition of each DEPRFND
    rule: under the shipped configuration (good customer by credit rating), by late payments,
    and with the two refusals by configuration (BADCUST, DEPREFUND-NO)."""
    from deprules.runner import WhyNot
    from deprules.simulate.outcomes import AccountSimulator
    from deprules.workspace import load_setup

    reasons = set()
    for sets in ((),
                 ("deposit_classes.RES.good_customer.algorithm=LATEPAYMENTS",
                  "deposit_classes.RES.good_customer.max_late_payments=2"),
                 ("deposit_classes.RES.good_customer.algorithm=BADCUST",
                  "deposit_classes.COM.refund_criteria={algorithm: DEPREFUND-NO}")):
        setup = load_setup(ROOT / "config", ROOT / "rules", (), sets)
        sim = AccountSimulator(setup.book, "python", (date(2026, 11, 21),), "docs")
        deposit_types = [c for c, t in setup.config.sa_types.items() if t.is_cash_deposit]
        for variant in setup.book.variants("DEPRFND"):
            for condition in variant.rule.when:
                for sa_type in deposit_types:
                    w = WhyNot("DEPRFND", variant.rule.id, variant.rule.seed_step, "S1",
                               condition.text, "")
                    found = sim.why_not_candidate(sa_type, w)
                    if found is not None:
                        reasons.add(found[1])
    # `sa.status == "active"` cannot fail: the reason is only asked for active deposits
    return reasons - {"status"}


def test_every_not_eligible_reason_is_documented():
    reasons = _not_eligible_reasons()
    assert reasons >= {"months_held", "credit_rating", "late_payments_12m", "do_not_refund",
                       "refund_criteria", "good_customer"}
    documented = _documented_outcomes()
    missing = {f"not_eligible_{r}" for r in reasons} - documented
    assert not missing, sorted(missing)


def test_every_adjustment_category_is_documented(setup):
    from deprules.rules.vocabulary import CATEGORIES

    rows = _table_rows(_section(OUTCOMES_DOC, "Adjustment categories"))
    documented = [r[0].strip("`") for r in rows if r[0].startswith("`")]
    assert documented == list(CATEGORIES)
    shipped = {t.category: code for code, t in setup.config.adjustment_types.items()}
    for row in rows:
        if row[0].startswith("`"):
            assert f"`{shipped[row[0].strip('`')]}`" in row[2], row[0]


# ---------------------------------------------------------------- exit codes

EXIT_DOC = (ROOT / "docs" / "exit-codes.md").read_text()


def _exit_codes_in_source() -> set[int]:
    codes = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for call, attribute in re.findall(
                r"(?:ctx\.exit|sys\.exit|SystemExit|Exit)\((\d+)\)|exit_code = (\d+)", text):
            codes.add(int(call or attribute))
    return codes


def test_every_exit_code_is_documented():
    codes = _exit_codes_in_source()
    assert {0, 1, 2, 3} <= codes
    rows = _table_rows(EXIT_DOC.split("## ", 1)[0])
    documented = {int(r[0].strip("`")) for r in rows if r[0].strip("`").isdigit()}
    assert codes == documented, f"source {sorted(codes)}, document {sorted(documented)}"


def test_the_internal_error_message_is_quoted_exactly():
    main = (SRC / "cli" / "main.py").read_text()
    said = re.search(r'"(This is a bug in deprules;[^"]*)"', main).group(1)
    assert said in EXIT_DOC
    assert "sys.exit(3)" in main
