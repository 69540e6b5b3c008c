"""Effective-dated configuration values (docs/configuration.md): the model, the rule book
for a process date, `config show --on` and the what-if changes."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from deprules.cli.main import cli
from deprules.config import load_config
from deprules.errors import ConfigError
from deprules.output_schemas import load_output_schema
from deprules.rules.engine import DurableMatcher
from deprules.workspace import load_setup

HOLD = ("deposit_classes.RES.refund_criteria.hold_months=[{value: 12}, "
        "{effective: 2027-01-01, value: 18}, {effective: 2028-01-01, value: 15}]")
BAND = ('write_off_controls.RES.criteria.1={algorithm: WO-WRITEDOWN, lower: [{value: "-1.00"}, '
        '{effective: 2027-01-01, value: "-5.00"}], upper: "10.00"}',
        'write_off_controls.RES.criteria.2={algorithm: WO-AP-ADJ, min_refund: [{value: "1.00"}, '
        '{effective: 2027-01-01, value: "5.00"}]}')
THRESHOLD = "installation.credit_rating_threshold=[{value: 300}, {effective: 2027-06-01, value: 500}]"


def test_the_value_of_a_date_is_the_latest_entry_on_or_before_it(root):
    c = load_config(root / "config", sets=[HOLD, *BAND, THRESHOLD])
    hold = lambda d: c.on(d).deposit_classes["RES"].hold_months  # noqa: E731
    assert c.deposit_classes["RES"].hold_months == 12  # the first entry, from the start
    assert [hold(date(1990, 1, 1)), hold(date(2026, 12, 31)), hold(date(2027, 1, 1)),
            hold(date(2027, 12, 31)), hold(date(2028, 1, 1)), hold(date(2040, 1, 1))] == \
        [12, 12, 18, 18, 15, 15]
    wo = c.on(date(2027, 1, 1)).write_off_controls["RES"]
    assert (wo.criterion("WO-WRITEDOWN").lower, wo.criterion("WO-WRITEDOWN").upper,
            wo.criterion("WO-AP-ADJ").min_refund) == (-500, 1000, 500)  # minor units
    assert c.on(date(2027, 6, 1)).installation.credit_rating_threshold == 500
    assert c.on(date(2027, 5, 31)).installation.credit_rating_threshold == 300
    # the other class and the plain values are untouched
    assert c.on(date(2030, 1, 1)).deposit_classes["COM"] == c.deposit_classes["COM"]
    assert c.change_dates() == (date(2027, 1, 1), date(2027, 6, 1), date(2028, 1, 1))
    # one view per distinct choice of entries; before every date, the configuration itself
    assert c.on(date(2026, 1, 1)) is c
    assert c.on(date(2027, 2, 1)) is c.on(date(2027, 3, 1))
    assert c.on(date(2027, 2, 1)).hash == c.hash


def test_a_plain_configuration_is_its_own_view_on_every_date(root):
    c = load_config(root / "config")
    assert c.dated == () and c.on(date(2027, 1, 1)) is c


def test_the_hash_changes_when_a_dated_value_is_added(root):
    plain = load_config(root / "config")
    dated = load_config(root / "config", sets=[HOLD])
    later = load_config(root / "config", sets=[HOLD.replace("2028-01-01", "2028-02-01")])
    assert len({plain.hash, dated.hash, later.hash}) == 3


def test_the_rule_book_of_a_date_folds_the_value_in_effect(root):
    setup = load_setup(root / "config", root / "rules", sets=[HOLD])
    book = setup.book
    jan = book.on(date(2027, 1, 15))
    assert book.on(date(2026, 6, 1)) is book and book.on(date(2027, 3, 1)) is jan
    assert jan.hash == book.hash and jan.view != book.view

    def hold(b):
        [v] = [v for v in b.variants("DEPRFND")
               if v.rule.id == "deprfnd/refund-good-credit-rating" and v.deposit_class == "RES"]
        return v.params["deposit_class.refund_criteria.hold_months"]

    assert (hold(book), hold(jan), hold(book.on(date(2028, 1, 1)))) == (12, 18, 15)
    # durable-rules rulesets are global and named: each date's book registers its own
    a, b = DurableMatcher(book), DurableMatcher(jan)
    assert a._ruleset("DEPRFND") != b._ruleset("DEPRFND")


def test_evaluate_traces_the_value_in_effect(root):
    from deprules.extract import generate_extract
    from deprules.ledger.tables import states_from_extract
    from deprules.runner import Runner

    setup = load_setup(root / "config", root / "rules", sets=[HOLD])
    extract = generate_extract(200, seed=3, as_of=date(2027, 1, 21))
    states = states_from_extract(extract, setup.config)
    seen = set()
    for st in states.values():
        run = Runner(setup.book, backend="durable").run_cycle(st, date(2027, 1, 21))
        for t in run.trace:
            if t.process == "DEPRFND" and "hold_months" in t.inputs:
                seen.add(t.inputs["hold_months"])
                assert t.inputs["months_held"] >= t.inputs["hold_months"]
    # RES deposits refunded on 2027-01-21 were held 18 months (COM: 24), never just 12
    assert 18 in seen and seen <= {18, 24}


@pytest.mark.parametrize("bad,code", [
    ("[{effective: 2026-01-01, value: 12}]", "dated-first-has-date"),
    ("[{value: 12}, {value: 18}]", "dated-missing-date"),
    ("[{value: 12}, {effective: 2027-01-01, value: 18}, {effective: 2027-01-01, value: 6}]",
     "dated-duplicate-date"),
    ("[{value: 12}, {effective: 2027-01-01, value: 18}, {effective: 2026-01-01, value: 6}]",
     "dated-out-of-order"),
    ("[{value: 12}, {effective: 2027-13-01, value: 18}]", "bad-format"),
    ("[{value: 12}, {effective: 2027-02-29, value: 18}]", "bad-format"),
])
def test_dated_values_are_checked(root, bad, code):
    with pytest.raises(ConfigError) as exc:
        load_config(root / "config", sets=[f"deposit_classes.RES.months_between_interest={bad}"])
    [p] = exc.value.problems
    assert p.code == code and p.path.startswith("$.deposit_classes.RES.months_between_interest[")


def _cli(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def test_config_show_on_a_date(root):
    base = ["config", "show", "--config", root / "config", "--rules", root / "rules",
            "--set", HOLD, "--set", BAND[0], "--set", BAND[1]]
    r = _cli(*base)
    assert r.exit_code == 0, r.output
    assert "RES: REFUND-RES after 12 months, 18 months from 2027-01-01, 15 months from " \
        "2028-01-01;" in r.output
    assert "WO-WRITEDOWN  -1.00, -5.00 from 2027-01-01 < balance < 10.00" in r.output
    r = _cli(*base, "--on", "2027-06-30")
    assert r.exit_code == 0, r.output
    assert "as it applies on 2027-06-30" in r.output
    assert "RES: REFUND-RES after 18 months;" in r.output
    assert "WO-WRITEDOWN  -5.00 < balance < 10.00" in r.output
    assert ("deposit_classes.RES.refund_criteria.hold_months: 12, 18 from 2027-01-01, 15 from "
            "2028-01-01; on 2027-06-30: 18 (since 2027-01-01), until 2028-01-01") in r.output
    r = _cli(*base, "--on", "2027-06-30", "--format", "json")
    doc = json.loads(r.output)
    import jsonschema

    jsonschema.validate(doc, load_output_schema("config-show"))
    assert doc["on"] == "2027-06-30"
    res = doc["config"]["deposit_classes"]["deposit_classes"]["RES"]
    assert res["refund_criteria"]["hold_months"] == 18
    assert doc["config"]["write_off_controls"]["write_off_controls"]["RES"]["criteria"][1][
        "lower"] == "-5.00"
    [hold] = [d for d in doc["dated"] if d["path"].endswith("hold_months")]
    assert hold == {"path": "deposit_classes.RES.refund_criteria.hold_months",
                    "entries": [{"effective": None, "value": 12},
                                {"effective": "2027-01-01", "value": 18},
                                {"effective": "2028-01-01", "value": 15}],
                    "value": 18, "since": "2027-01-01", "until": "2028-01-01"}
    # without --on: the file's own lists, no value in effect
    doc = json.loads(_cli(*base, "--format", "json").output)
    jsonschema.validate(doc, load_output_schema("config-show"))
    assert doc["on"] is None and "value" not in doc["dated"][0]
    assert len(doc["config"]["deposit_classes"]["deposit_classes"]["RES"]["refund_criteria"][
        "hold_months"]) == 3


def test_config_show_on_refuses_a_bad_date(root):
    r = _cli("config", "show", "--config", root / "config", "--rules", root / "rules",
             "--on", "2027-02-30")
    assert r.exit_code == 2


def test_pack_coverage_sees_the_values_of_each_date(root):
    """Threshold coverage is judged with the values in effect on each run's date: the
    effective-dating pack holds hold_months 12 and 18 (and thresholds 300 and 500) and sees
    both sides of them."""
    r = _cli("test", root / "packs" / "seed" / "effective-dating.yaml", "--coverage",
             "--config", root / "config", "--rules", root / "rules", "--format", "json")
    assert r.exit_code == 0, r.output
    items = {(t["rule"], t["index"], t["class"]): t
             for t in json.loads(r.output)["coverage"]["thresholds"]["items"]}
    hold = items[("deprfnd/refund-good-credit-rating", 4, "RES")]
    rating = items[("deprfnd/refund-good-credit-rating", 5, "RES")]
    late = items[("deprfnd/refund-few-late-payments", 5, "COM")]
    assert (hold["values"], rating["values"], late["values"]) == (["12", "18"], ["300", "500"],
                                                                 ["1", "2"])
    assert all(t["seen_true"] and t["seen_false"] for t in (hold, rating, late))
