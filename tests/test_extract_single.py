"""The streaming one-account reader (used by `deprules evaluate`) agrees with the full reader."""

from helpers import acct, sa, write_extract

import pytest

from deprules.errors import ExtractError
from deprules.extract.single import load_account
from deprules.workspace import extract_context, load_states


def test_every_example_account_loads_the_same_both_ways(root, setup):
    full = load_states(root / "examples" / "extract", setup.config)
    ctx = extract_context(setup.config)
    for aid, state in full.items():
        assert load_account(root / "examples" / "extract", aid, ctx, setup.config) == state, aid


def test_problems_of_the_account_are_located(tmp_path, setup):
    folder = write_extract(tmp_path / "x", [acct("A1")],
                           [sa("S1", "DEP-RES", payoff="1.234"),
                            sa("S2", "DEP-RES", status="stopped"),
                            sa("S3", "NOPE", status="99")])
    with pytest.raises(ExtractError) as err:
        load_account(folder, "A1", extract_context(setup.config), setup.config)
    got = {(p.file, p.line, p.code) for p in err.value.problems}
    assert ("service_agreements.csv", 2, "bad-money") in got
    assert ("service_agreements.csv", 3, "missing-stop-date") in got
    assert ("service_agreements.csv", 4, "unknown-sa-type") in got
    assert ("service_agreements.csv", 4, "unknown-status") in got


def test_unknown_account_is_none(tmp_path, setup):
    folder = write_extract(tmp_path / "x", [acct("A1")], [sa("S1", "DEP-RES")])
    assert load_account(folder, "ZZ", extract_context(setup.config), setup.config) is None
