"""The fast path of Decider.evaluate (rows read in memory, api_rows) answers exactly what
the file way (rows written as an extract's CSV files, read by extract.single) answers: the
same document for good rows, the same located problems for bad ones. In process: the HTTP
side is tests/test_service.py's (the evaluate answer equal to the CLI's)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from deprules.api import Decider, RequestError

from test_service import AS_OF, ROOT, SAMPLE, SAMPLE_IDS, rows_of


@pytest.fixture(scope="module")
def deciders():
    fast = Decider(ROOT / "config", ROOT / "rules")
    files = Decider(ROOT / "config", ROOT / "rules", direct=False)
    yield fast, files
    fast.close()
    files.close()


def outcome(decider: Decider, body: dict):
    try:
        return 200, decider.evaluate(copy.deepcopy(body))
    except RequestError as exc:
        return exc.status, exc.problems


def body_of(account_id: str, explain: bool = False) -> dict:
    return {"account_id": account_id, "as_of": AS_OF, "explain": explain,
            **rows_of(SAMPLE, account_id)}


def test_same_documents_on_the_sample(deciders):
    from deprules.api import check_request
    from deprules.api_rows import direct_state

    fast, files = deciders
    for k, account_id in enumerate(SAMPLE_IDS):
        body = body_of(account_id, explain=k % 5 == 0)
        # the sample's rows are taken by the fast path (or this test would test nothing)
        req = check_request(copy.deepcopy(body), batch=False)
        assert direct_state(account_id, req["tables"], fast.current.ctx)[0], account_id
        a, b = outcome(fast, body), outcome(files, body)
        assert a[0] == 200 and a == b, account_id


def _first_with(table: str) -> dict:
    for account_id in SAMPLE_IDS:
        body = body_of(account_id)
        if body[table]:
            return body
    raise AssertionError(f"no sample account has {table} rows")


def _mutations():
    """(name, body): rows the fast path must either take with the same answer or leave to
    the file reader (every refusal located as the reader locates it)."""
    base = _first_with("financial_transactions")
    ncd = _first_with("non_cash_deposits")
    other = body_of(SAMPLE_IDS[-1])

    def m(name, source, change):
        body = copy.deepcopy(source)
        change(body)
        return name, body

    sa0 = lambda b: b["service_agreements"][0]  # noqa: E731
    yield m("bad money", base, lambda b: sa0(b).update(payoff_balance="12.345"))
    yield m("padded values", base, lambda b: sa0(b).update(sa_type=" " + sa0(b)["sa_type"] + " "))
    yield m("padded id", base, lambda b: b["accounts"][0].update(
        customer_class=b["accounts"][0]["customer_class"] + " "))
    yield m("unknown column", base, lambda b: sa0(b).update(note="x"))
    yield m("missing column", base, lambda b: [r.pop("stop_date") for r in
                                               b["service_agreements"]])
    yield m("missing required value", base, lambda b: sa0(b).update(start_date=""))
    yield m("duplicate SA", base, lambda b: b["service_agreements"].append(
        dict(sa0(b))))
    yield m("duplicate account", base, lambda b: b["accounts"].append(dict(b["accounts"][0])))
    yield m("other account's rows", base, lambda b: [b[t].extend(other[t]) for t in
                                                     ("accounts", "service_agreements")])
    yield m("dangling SA", base, lambda b: sa0(b).update(account_id="NOPE"))
    yield m("FT of an unknown SA", base, lambda b: b["financial_transactions"][0].update(
        sa_id="NOPE"))
    yield m("a quote", base, lambda b: sa0(b).update(sa_type='DEP"RES'))
    yield m("a comma", base, lambda b: sa0(b).update(sa_type="DEP,RES"))
    yield m("not ASCII", base, lambda b: sa0(b).update(sa_type="DÉP-RES"))
    yield m("long cell", base, lambda b: sa0(b).update(sa_type="X" * 2000))
    yield m("stop before start", base, lambda b: sa0(b).update(stop_date="1990-01-01"))
    yield m("bad status", base, lambda b: sa0(b).update(status="sleeping"))
    yield m("numeric status", base, lambda b: sa0(b).update(status="20"))
    yield m("bad date", base, lambda b: sa0(b).update(start_date="2024-02-30"))
    yield m("bad boolean", base, lambda b: b["accounts"][0].update(do_not_refund="maybe"))
    yield m("negative NCD", ncd, lambda b: b["non_cash_deposits"][0].update(amount="-5.00"))
    yield m("no accounts row", base, lambda b: b.update(accounts=[]))
    yield m("empty tables", base, lambda b: b.update(non_cash_deposits=[],
                                                     financial_transactions=[]))
    yield m("tables left out", base, lambda b: [b.pop("non_cash_deposits"),
                                                b.pop("financial_transactions")])
    yield m("padded account id", base, lambda b: b.update(account_id=" " + b["account_id"]))
    yield m("padded column name", base, lambda b: b["service_agreements"].__setitem__(
        0, {(" " + k if k == "status" else k): v for k, v in sa0(b).items()}))


@pytest.mark.parametrize("name,body", list(_mutations()), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_same_answer_for_odd_rows(deciders, name, body):
    fast, files = deciders
    assert outcome(fast, body) == outcome(files, body), name


def test_answers_encoded_by_orjson_are_the_json_documents():
    # the decision answers are encoded by orjson; the values are json.dumps's, and what
    # orjson refuses (an integer beyond 64 bits, a lone surrogate) is encoded by json
    import dataclasses
    import datetime
    import decimal
    import json

    from deprules.service import answer_bytes

    @dataclasses.dataclass
    class Point:
        x: int

    cases = [
        {"text": "é \u2028 \"q\" \\ \x01", "n": [0, -1, 2**63 - 1, True, False, None],
         "date": datetime.date(2026, 11, 21), "time": datetime.datetime(2026, 1, 2, 3, 4, 5),
         "money": decimal.Decimal("-102.42"), "point": Point(1), "nested": {"a": [{}, []]}},
        {"big": 2**70}, {"lone": "\ud800"}, [], "x",
    ]
    for case in cases:
        want = json.dumps(case, separators=(",", ":"), default=str)
        assert json.loads(answer_bytes(case)) == json.loads(want)
