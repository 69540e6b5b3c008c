"""/v1/evaluate/batch on the vector back end (the default): every document equals the
per-account runner's (the batch with "engine": "python") and /v1/evaluate's for the same
account, on the sample extract and on the regression packs' one-cycle scenarios; explain
goes to the per-account runner."""

from __future__ import annotations

from test_service import (AS_OF, SAMPLE, SAMPLE_IDS, TABLES, _pack_scenarios, auth, evaluate,
                          read_table, rows_of, srv, tokens)  # noqa: F401  (fixtures)


def batch(srv, tokens, body, **extra):
    r = srv.client.post("/v1/evaluate/batch", json={**body, **extra}, headers=auth(tokens))
    assert r.status_code == 200, r.text
    return r.json()


def test_vector_batch_equals_per_account_on_the_sample(srv, tokens):
    body = {"as_of": AS_OF, **{t: read_table(SAMPLE, t) for t in TABLES}}
    vector = batch(srv, tokens, body)
    python = batch(srv, tokens, body, engine="python")
    assert vector["engine"] == "vector" and python["engine"] == "python"
    assert len(vector["results"]) == len(SAMPLE_IDS)
    assert vector["results"] == python["results"]
    by_id = {d["account_id"]: d for d in vector["results"]}
    fired = [d for d in vector["results"] if d["trace"]]
    assert fired and any(t["inputs"] for d in fired for t in d["trace"])  # saw: inputs
    for account_id in SAMPLE_IDS[::9]:
        one = evaluate(srv, tokens, {"account_id": account_id, "as_of": AS_OF,
                                     **rows_of(SAMPLE, account_id)})
        assert by_id[account_id] == one.json()


def test_vector_batch_equals_per_account_on_pack_scenarios(srv, tokens):
    from deprules.extract import TABLES as COLUMNS
    from deprules.packs.given import DEFAULTS, _cell

    scenarios = _pack_scenarios()
    assert len(scenarios) >= 20
    for sc in scenarios:
        g = sc.given
        tables = {"accounts": g.accounts, "service_agreements": g.service_agreements,
                  "non_cash_deposits": g.non_cash_deposits,
                  "financial_transactions": g.financial_transactions}
        body = {"as_of": sc.date}
        for table, rows in tables.items():
            cols = [c.name for c in COLUMNS[table]]
            body[table] = [{c: _cell({**DEFAULTS.get(table, {}), **r.data}.get(c))
                            for c in cols} for r in rows]
        vector = batch(srv, tokens, body)
        assert vector["results"] == batch(srv, tokens, body, engine="python")["results"], \
            sc.name
        for doc in vector["results"]:
            one = evaluate(srv, tokens, {**body, "account_id": doc["account_id"]})
            assert one.status_code == 200 and one.json() == doc, sc.name


def test_explain_batches_are_per_account(srv, tokens):
    body = {"as_of": AS_OF, **{t: read_table(SAMPLE, t) for t in TABLES},
            "account_ids": SAMPLE_IDS[:4], "explain": True}
    doc = batch(srv, tokens, body)
    assert doc["engine"] == "python"
    for d in doc["results"]:
        one = evaluate(srv, tokens, {"account_id": d["account_id"], "as_of": AS_OF,
                                     "explain": True, **rows_of(SAMPLE, d["account_id"])})
        assert one.json() == d
    r = srv.client.post("/v1/evaluate/batch", json={**body, "engine": "vector"},
                        headers=auth(tokens))
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "engine"
    r = srv.client.post("/v1/evaluate/batch", json={**body, "engine": "fast"},
                        headers=auth(tokens))
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "engine"


def test_vector_batch_with_effective_dated_values(tmp_path):
    # the replay of the vector batch takes the configuration as it applies on the batch's
    # date, as the per-account runner does: months_between_interest 12, then 3 from
    # 2026-06-01 (it took the first values and refused the batch: "changed nothing when
    # replayed")
    import shutil

    from deprules.api import Decider

    config = tmp_path / "config"
    shutil.copytree(SAMPLE.parents[1] / "config", config)
    p = config / "deposit_classes.yaml"
    text = p.read_text()
    assert "    months_between_interest: 12\n" in text
    p.write_text(text.replace("    months_between_interest: 12\n",
                              "    months_between_interest:\n      - value: 12\n"
                              "      - {effective: \"2026-06-01\", value: 3}\n"))
    tables = {t: read_table(SAMPLE, t) for t in TABLES}
    with Decider(config, SAMPLE.parents[1] / "rules") as d:
        for as_of in ("2026-05-20", AS_OF, "2027-02-10"):
            vector = d.evaluate_batch({"as_of": as_of, **tables})
            python = d.evaluate_batch({"as_of": as_of, "engine": "python", **tables})
            assert vector["engine"] == "vector"
            assert vector["results"] == python["results"], as_of
            assert any(t["rule"] == "depintrf/periodic-interest"
                       for doc in vector["results"] for t in doc["trace"]), as_of
