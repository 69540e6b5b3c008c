"""ap batches / ap resend: every exported A/P file is kept by the store and can be written
again byte for byte; refusals change nothing."""

from __future__ import annotations

import json

from click.testing import CliRunner

from deprules.cli import cli
from deprules.ledger.sqlstore import Store
from helpers import acct, sa, write_extract

ON = "2026-11-21"


def invoke(*args, code=0):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == code, r.output
    return r


def test_resend_writes_the_exported_file_again_and_is_journaled(tmp_path):
    extract = write_extract(tmp_path / "x", [acct()], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-200.00",
           total_deposit_amount="200.00")])
    store = tmp_path / "s.db"
    invoke("ledger", "init", "--extract", extract, "--store", store)
    invoke("refund", "partial", "DEP1", "--amount", "120.00", "--date", ON, "--store", store)
    first = tmp_path / "to-ap.csv"
    invoke("ap", "export", "--out", first, "--date", ON, "--store", store, "--by", "ap1")
    [batch] = json.loads(invoke("ap", "batches", "--store", store, "--format",
                                "json").stdout)["batches"]
    assert (batch["requests"], batch["amount"], batch["delivered"]) == (1, "120.00", True)
    gen = Store.open(store).generation()
    again = tmp_path / "again.csv"
    invoke("ap", "resend", batch["batch_id"], "--out", again, "--store", store, "--by", "ap1",
           "--reason", "A/P lost it")
    assert again.read_bytes() == first.read_bytes()
    entry = Store.open(store).journal(1)[0]
    assert (entry["user"], entry["reason"], entry["batch"]) == ("ap1", "A/P lost it",
                                                               batch["batch_id"])
    assert entry["accounts_written"] == 0 and Store.open(store).generation() == gen + 1
    out = invoke("ap", "resend", batch["batch_id"], "--out", "-", "--store", store).stdout_bytes
    assert out == first.read_bytes()
    # refusals: an existing file, an unknown batch; nothing is written or journaled
    gen = Store.open(store).generation()
    r = invoke("ap", "resend", batch["batch_id"], "--out", again, "--store", store, code=2)
    assert "exists; A/P files are never overwritten" in r.output
    r = invoke("ap", "resend", "nope", "--out", tmp_path / "x.csv", "--store", store, code=2)
    assert f"exported: {batch['batch_id']}" in r.output and not (tmp_path / "x.csv").exists()
    assert Store.open(store).generation() == gen
