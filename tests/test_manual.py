"""The manual paths driven through the command line, as a CSR, an approver and A/P would.

Every accepted command leaves `ledger check` clean; every refused one exits 2 with a clear
message and leaves the store's generation where it was.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date

import pytest
from click.testing import CliRunner

from helpers import acct, sa, write_extract

from deprules.cli import cli
from deprules.ledger.sqlstore import Store

ON = "2026-11-21"


class Desk:
    """One store, driven through the CLI; every command is checked the same way."""

    def __init__(self, runner: CliRunner, store, config=None):
        self.runner = runner
        self.store = store
        self.extra = ["--config", config] if config else []

    def invoke(self, *args):
        args = [str(a) for a in args] + ["--store", str(self.store)] + [str(a) for a in self.extra]
        return self.runner.invoke(cli, args, catch_exceptions=False)

    def ok(self, *args, check: bool = True):
        r = self.invoke(*args)
        assert r.exit_code == 0, r.output
        if check:
            sound = self.invoke("ledger", "check")
            assert sound.exit_code == 0, sound.output
        return r

    def json(self, *args, check: bool = True):
        return json.loads(self.ok(*args, "--format", "json", check=check).stdout)

    def refused(self, *args, match: str):
        before = Store.open(self.store).generation()
        r = self.invoke(*args)
        assert r.exit_code == 2, r.output
        assert match in r.stderr, r.stderr
        assert "Traceback" not in r.output and "internal error" not in r.output
        assert Store.open(self.store).generation() == before
        return r

    def account(self, account_id="A1") -> dict:
        return self.json("ledger", "show", account_id, check=False)

    def sa(self, sa_id, account_id="A1") -> dict:
        return next(s for s in self.account(account_id)["service_agreements"]
                    if s["sa_id"] == sa_id)

    def balances(self, sa_id, account_id="A1") -> tuple[str, str]:
        s = self.sa(sa_id, account_id)
        return s["payoff_balance"], s["current_balance"]


@pytest.fixture()
def desk_for(root, tmp_path, monkeypatch):
    """desk_for(accounts, sas, config=None) -> a Desk on a fresh store of that extract."""
    monkeypatch.chdir(root)
    monkeypatch.setenv("DEPRULES_USER", "csr1")
    runner = CliRunner()

    def make(accounts, sas, config=None, name="s"):
        extract = write_extract(tmp_path / f"extract-{name}", accounts, sas)
        desk = Desk(runner, tmp_path / name, config)
        r = runner.invoke(cli, ["ledger", "init", "--extract", str(extract), "--store",
                                str(desk.store)] + desk.extra, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return desk

    return make


def domain_example(desk_for, **kw):
    # DOMAIN.md section 5: deposit payoff -200.00, current 0.00; the gas SA owes 50.00
    return desk_for([acct()], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-200.00", total_deposit_amount="200.00"),
        sa("G1", "G-RES", start="2024-01-01", payoff="50.00", current="50.00"),
        sa("E1", "E-RES", start="2024-01-01", payoff="0.00")], **kw)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---- (1) partial refund, to the cent, then A/P ---------------------------------------------------
def test_partial_refund_domain_example_then_ap_export_and_paid(desk_for, tmp_path):
    desk = domain_example(desk_for)
    out = desk.json("refund", "partial", "DEP1", "--amount", "120.00", "--apply-to-debt",
                    "--date", ON, "--reason", "customer asked for part of the deposit")
    assert out["transfers"] == [{"sa_id": "G1", "amount": "50.00"}]
    assert (out["ap_refund"], out["current_only"], out["waits_for_approval"]) == (
        "70.00", "-120.00", False)

    acct_ = desk.account()
    dep = desk.sa("DEP1")
    assert (dep["payoff_balance"], dep["current_balance"], dep["total_deposit_amount"],
            dep["status"]) == ("-80.00", "0.00", "80.00", "active")
    assert desk.balances("G1") == ("0.00", "0.00")
    assert [(a["sa_id"], a["category"], a["amount"], a["status"], a["created_by"])
            for a in acct_["adjustments"]] == [
        ("DEP1", "transfer", "50.00", "frozen", "csr"),
        ("G1", "transfer", "-50.00", "frozen", "csr"),
        ("DEP1", "ap_refund", "70.00", "frozen", "csr"),
        ("DEP1", "current_only", "-120.00", "frozen", "csr")]
    assert [(c["amount"], c["status"], c["payee_account_id"]) for c in acct_["checks"]] == [
        ("70.00", "not_selected", "A1")]
    # who and why are in the cause of every change; the seed step names the part of 1.1 - 1.9
    entries = acct_["journal"]
    assert {(e["process"], e["user"], e["reason"], e["rule"]) for e in entries} == {
        ("CSR", "csr1", "customer asked for part of the deposit", "")}
    assert {e["seed_step"] for e in entries} == {"1.2", "1.3", "1.4", "1.6"}

    # A/P takes the request (requested), then reports it paid
    ap_file = tmp_path / "to-ap.csv"
    r = desk.ok("ap", "export", "--out", ap_file, "--date", "2026-11-22", "--by", "ap1")
    assert "exported 1 check request(s) for 70.00" in r.output
    rows = read_csv(ap_file)
    assert rows == [{"request_id": "A1-CHK001", "payee_account_id": "A1", "payee_name": "",
                     "amount": "70.00", "date": ON, "adjustment_id": "A1-ADJ003",
                     "sa_id": "DEP1"}]
    assert [c["status"] for c in desk.account()["checks"]] == ["requested"]
    assert desk.json("ap", "list", "--status", "requested")["check_requests"][0]["request_id"] == "A1-CHK001"
    # a second export has nothing left to send and commits nothing
    gen = Store.open(desk.store).generation()
    desk.ok("ap", "export", "--out", tmp_path / "again.csv")
    assert read_csv(tmp_path / "again.csv") == [] and Store.open(desk.store).generation() == gen

    desk.ok("ap", "paid", ap_file, "--date", "2026-11-25", "--by", "ap1")
    assert [c["status"] for c in desk.account()["checks"]] == ["paid"]
    steps = [(e["kind"], e["seed_step"], e["process"], e["user"], e["detail"].get("to_status"))
             for e in desk.account()["journal"] if e["kind"] == "check_status"]
    assert steps == [("check_status", "1.7", "AP", "ap1", "requested"),
                     ("check_status", "1.8", "AP", "ap1", "paid")]
    # paying it again is refused, naming the file line
    desk.refused("ap", "paid", ap_file, match=f"{ap_file}:2: check request A1-CHK001 is paid, "
                                              "not requested")


def test_partial_refund_without_debt_and_all_to_debt(desk_for):
    desk = domain_example(desk_for)
    desk.ok("refund", "partial", "DEP1", "--amount", "30.00", "--date", ON)
    assert desk.balances("DEP1") == ("-170.00", "0.00") and desk.balances("G1") == ("50.00",
                                                                                       "50.00")
    # everything to debt: no A/P adjustment, no check
    out = desk.json("refund", "partial", "DEP1", "--amount", "40.00", "--apply-to-debt",
                    "--date", ON)
    assert out["ap_refund"] == "0.00" and out["check_id"] is None
    assert desk.balances("DEP1") == ("-130.00", "0.00") and desk.balances("G1") == ("10.00",
                                                                                       "10.00")
    assert desk.sa("DEP1")["total_deposit_amount"] == "130.00"
    assert len(desk.account()["checks"]) == 1


def test_partial_refund_library_api_for_scenarios(root, tmp_path):
    from deprules import desk
    from deprules.ledger import Ledger
    from deprules.workspace import load_setup, load_states

    setup = load_setup(root / "config", root / "rules")
    folder = write_extract(tmp_path / "x", [acct()], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-200.00", total_deposit_amount="200.00"),
        sa("G1", "G-RES", payoff="50.00", current="50.00")])
    ledger = Ledger(load_states(folder, setup.config), setup.config)
    cause = desk.manual_cause(setup, run_id="scenario-1", user="csr1", reason="replay")
    result = desk.partial_refund(ledger, setup, "DEP1", 12000, date(2026, 11, 21), cause,
                                   apply_to_debt=True)
    assert result.data["ap_refund"] == "70.00" and result.changed
    st = ledger.states["A1"]
    assert (st.sas["DEP1"].payoff_balance, st.sas["DEP1"].current_balance,
            st.sas["DEP1"].total_deposit_amount) == (-8000, 0, 8000)
    assert [c.amount for c in st.checks] == [7000]
    assert ledger.check() == []


# ---- (2) full refund by hand: stop to closure ----------------------------------------------------
def stop_example(desk_for):
    return desk_for([acct()], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-300.00", total_deposit_amount="300.00"),
        sa("E1", "E-RES", start="2024-01-01", payoff="40.00", current="40.00")])


def test_manual_stop_through_closure(desk_for):
    desk = stop_example(desk_for)
    desk.ok("sa", "pending-stop", "DEP1", "--date", "2026-11-30", "--reason", "moving out")
    assert (desk.sa("DEP1")["status"], desk.sa("DEP1")["stop_date"]) == ("pending_stop",
                                                                          "2026-11-30")
    desk.refused("bill", "final", "DEP1", "--date", ON, match="only a stopped SA")
    # the CSR stops it at once: the stop date moves forward, stop processing runs its rules
    out = desk.json("sa", "stop", "DEP1", "--date", ON, "--reason", "moving out today")
    assert (out["stop_date"], out["interest"], out["sync_up"]) == (ON, "-0.40", "-300.40")
    assert out["rules"] == ["stop/deposit-interest", "stop/sync-up"]
    assert desk.balances("DEP1") == ("-300.40", "-300.40")
    journal = desk.account()["journal"]
    assert {(e["process"], e["user"], e["reason"]) for e in journal if e["process"] == "STOP"} \
        == {("STOP", "csr1", "moving out today")}
    # stopping it again only repeats nothing
    gen = Store.open(desk.store).generation()
    assert "nothing changed" in desk.ok("sa", "stop", "DEP1", "--date", ON).output
    assert Store.open(desk.store).generation() == gen

    desk.refused("sa", "close", "DEP1", "--date", ON, match="before its final bill is complete")
    bill = desk.json("bill", "final", "DEP1", "--date", ON)
    assert (bill["bill_id"], bill["amount"]) == ("A1-BILL001", "-300.40")
    done = desk.json("bill", "complete", "A1-BILL001", "--date", ON)
    assert (done["refund_method"], done["transfers"], done["due_date"]) == (
        "APPLYDEPOSIT", [{"sa_id": "E1", "amount": "40.00"}], ON)
    assert desk.balances("DEP1") == ("-260.40", "-260.40") and desk.balances("E1") == ("0.00",
                                                                                         "0.00")
    desk.refused("sa", "close", "DEP1", "--date", ON, match="payoff -260.40, current -260.40")

    desk.ok("adjust", "create", "DEP1", "--type", "DEPAPREF", "--amount", "260.40", "--date", ON)
    assert [(c["amount"], c["status"]) for c in desk.account()["checks"]] == [("260.40",
                                                                             "not_selected")]
    desk.ok("sa", "close", "DEP1", "--date", ON)
    dep = desk.sa("DEP1")
    assert (dep["status"], dep["payoff_balance"], dep["current_balance"]) == ("closed", "0.00",
                                                                              "0.00")
    steps = [(e["kind"], e["detail"].get("to_status"), e["seed_step"])
             for e in desk.account()["journal"] if e["kind"] == "status"]
    assert steps == [("status", "pending_stop", "2.0"), ("status", "stopped", "2.6"),
                     ("status", "closed", "3.0.2.6")]


def test_batch_stopped_sa_needs_stop_processing_then_wpm_refunds_and_closes(desk_for):
    desk = stop_example(desk_for)
    desk.ok("sa", "pending-stop", "DEP1", "--date", ON)
    desk.ok("run", "SAACT", "--date", ON)  # stopped, but no stop processing yet
    desk.refused("bill", "final", "DEP1", "--date", ON, match="interest to the stop date")
    desk.ok("sa", "stop", "DEP1", "--date", ON)  # already stopped: its stop processing only
    desk.ok("bill", "final", "DEP1", "--date", ON)
    desk.ok("bill", "complete", "A1-BILL001", "--date", ON, "--engine", "python")
    desk.ok("run", "WPM", "--date", ON)
    dep = desk.sa("DEP1")
    assert (dep["status"], dep["payoff_balance"]) == ("closed", "0.00")
    assert [c["amount"] for c in desk.account()["checks"]] == ["260.40"]


# ---- (3) a DEPREF To Do worked to closure ------------------------------------------------------
@pytest.fixture()
def depref_config(root, tmp_path):
    cfg = tmp_path / "config"
    shutil.copytree(root / "config", cfg)
    text = (cfg / "deposit_classes.yaml").read_text()
    head, com = text.split("\n  COM:", 1)
    (cfg / "deposit_classes.yaml").write_text(
        head + "\n  COM:" + com.replace("algorithm: APPLYDEPOSIT", "algorithm: DEPREF-TODO"))
    return cfg


def test_depref_todo_worked_to_closure(desk_for, depref_config):
    desk = desk_for([acct(customer_class="COM")], [
        sa("DEP1", "DEP-COM", start="2023-06-01", payoff="-400.00", total_deposit_amount="400.00"),
        sa("E1", "E-COM", start="2023-06-01", payoff="75.00", current="75.00")],
        config=depref_config)
    desk.ok("run", "cycle", "--date", ON)
    todos = desk.json("todo", "list", "--type", "DEPREF")["todos"]
    assert [(t["todo_id"], t["status"], t["sa_id"]) for t in todos] == [("A1-TD001", "open",
                                                                         "DEP1")]
    assert desk.balances("DEP1") == ("-401.38", "-401.38")  # interest 1.38, synced, billed
    desk.ok("run", "WPM", "--date", ON)  # WPM leaves it alone while the To Do is open
    assert desk.balances("DEP1") == ("-401.38", "-401.38")

    desk.ok("todo", "work", "A1-TD001", "--by", "analyst1", "--date", "2026-11-22")
    shown = desk.json("todo", "show", "A1-TD001")
    assert (shown["status"], shown["worked_by"]) == ("being_worked", "analyst1")
    desk.refused("todo", "work", "A1-TD001", "--by", "analyst2", match="being_worked by analyst1")
    desk.ok("adjust", "transfer", "DEP1", "E1", "--amount", "75.00", "--by", "analyst1",
            "--date", "2026-11-22")
    assert desk.balances("E1") == ("0.00", "0.00")
    desk.refused("adjust", "create", "DEP1", "--type", "DEPAPREF", "--amount", "326.39",
                 "--by", "analyst1", match="more than the credit on SA DEP1: 326.38")
    desk.ok("adjust", "create", "DEP1", "--type", "DEPAPREF", "--amount", "326.38",
            "--by", "analyst1", "--date", "2026-11-22")
    desk.ok("sa", "close", "DEP1", "--by", "analyst1", "--date", "2026-11-22")
    desk.ok("todo", "complete", "A1-TD001", "--by", "analyst1", "--date", "2026-11-22")
    shown = desk.json("todo", "show", "A1-TD001")
    assert (shown["status"], shown["completed_by"], shown["completed_on"]) == (
        "complete", "analyst1", "2026-11-22")
    assert desk.sa("DEP1")["status"] == "closed"
    assert [(c["amount"], c["status"]) for c in desk.account()["checks"]] == [("326.38",
                                                                             "not_selected")]
    assert [e["seed_step"] for e in desk.account()["journal"] if e["kind"] == "todo_status"] \
        == ["3.0.2.1", "3.0.2.1"]


# ---- (4) approval ------------------------------------------------------------------------------
def test_approval_refused_to_creator_granted_to_another(desk_for):
    desk = desk_for([acct()], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-1000.00",
           total_deposit_amount="1000.00"),
        sa("G1", "G-RES", payoff="50.00", current="50.00")])
    out = desk.json("refund", "partial", "DEP1", "--amount", "800.00", "--apply-to-debt",
                    "--date", ON, "--by", "csr1")
    assert out["waits_for_approval"] is True and out["check_id"] is None
    ap_id = out["ap_adjustment_id"]
    # nothing posts while it waits
    assert desk.balances("DEP1") == ("-1000.00", "0.00") and desk.balances("G1") == ("50.00",
                                                                                       "50.00")
    assert desk.sa("DEP1")["total_deposit_amount"] == "1000.00"
    todos = desk.json("todo", "list", "--type", "ADJ-APPROVAL", "--status", "open")["todos"]
    assert [(t["adjustment_id"], t["role"]) for t in todos] == [(ap_id, "FIN-SUPERVISOR")]
    desk.refused("refund", "partial", "DEP1", "--amount", "300.00", "--date", ON,
                 match="after 800.00 waiting for approval")
    desk.refused("adjust", "approve", ap_id, "--by", "csr1", match="csr1 created adjustment")
    desk.refused("adjust", "reject", ap_id, "--by", "csr1", match="cannot reject it")
    desk.refused("todo", "complete", todos[0]["todo_id"], "--by", "sup1",
                 match="approve or reject it instead")
    desk.refused("adjust", "freeze", ap_id, "--by", "sup1", match="partial refund A1-PR001")

    r = desk.json("adjust", "approve", ap_id, "--by", "sup1", "--date", "2026-11-22")
    assert r["check_id"] == "A1-CHK001" and r["adjustment"]["approved_by"] == "sup1"
    assert desk.balances("DEP1") == ("-200.00", "0.00") and desk.balances("G1") == ("0.00",
                                                                                     "0.00")
    assert desk.sa("DEP1")["total_deposit_amount"] == "200.00"
    assert [(c["amount"], c["status"]) for c in desk.account()["checks"]] == [("750.00",
                                                                             "not_selected")]
    todo = desk.json("todo", "show", todos[0]["todo_id"])
    assert (todo["status"], todo["completed_by"]) == ("complete", "sup1")
    desk.refused("adjust", "approve", ap_id, "--by", "sup2", match="not pending_approval")


def test_rejected_adjustment_is_canceled_without_posting(desk_for):
    desk = stop_example(desk_for)
    desk.ok("sa", "stop", "DEP1", "--date", ON)
    desk.ok("bill", "final", "DEP1", "--date", ON)
    desk.ok("bill", "complete", "A1-BILL001", "--date", ON)
    desk.ok("adjust", "create", "DEP1", "--type", "WRITEDWN", "--amount", "260.40", "--date", ON)
    created = desk.json("adjust", "create", "DEP1", "--type", "DEPCHG", "--amount", "600.00",
                        "--date", ON, "--no-freeze")["adjustment"]
    assert created["status"] == "incomplete"
    desk.ok("adjust", "cancel", created["adjustment_id"], "--date", ON)
    big = desk.json("adjust", "create", "E1", "--type", "WRITEDWN", "--amount", "-600.00",
                    "--date", ON)["adjustment"]
    assert big["status"] == "pending_approval"
    desk.ok("adjust", "reject", big["adjustment_id"], "--by", "sup1", "--date", ON)
    adj = next(a for a in desk.account()["adjustments"]
               if a["adjustment_id"] == big["adjustment_id"])
    assert adj["status"] == "canceled"
    assert desk.balances("E1") == ("0.00", "0.00")
    assert all(t["status"] == "complete" for t in desk.json("todo", "list")["todos"])


# ---- (5) cancel, and the A/P cancel refused after export -----------------------------------------
def test_ap_cancel_allowed_before_export_refused_after(desk_for, tmp_path):
    desk = domain_example(desk_for)
    first = desk.json("refund", "partial", "DEP1", "--amount", "120.00", "--apply-to-debt",
                      "--date", ON)
    # canceling its A/P adjustment undoes the whole partial refund, reversing every FT
    r = desk.json("adjust", "cancel", first["ap_adjustment_id"], "--date", ON)
    assert len(r["adjustment_ids"]) == 4
    dep = desk.sa("DEP1")
    assert (dep["payoff_balance"], dep["current_balance"], dep["total_deposit_amount"]) == (
        "-200.00", "0.00", "200.00")
    assert desk.balances("G1") == ("50.00", "50.00")
    assert [c["status"] for c in desk.account()["checks"]] == ["canceled"]

    second = desk.json("refund", "partial", "DEP1", "--amount", "100.00", "--date", ON)
    desk.ok("ap", "export", "--out", tmp_path / "ap.csv", "--date", ON)
    desk.refused("adjust", "cancel", second["ap_adjustment_id"], "--date", ON,
                 match="is already requested (cancel only while not_selected)")
    # the current-only adjustment belongs to the same refund: refused too
    co = [a["adjustment_id"] for a in desk.account()["adjustments"]
          if a["category"] == "current_only" and a["status"] == "frozen"]
    desk.refused("adjust", "cancel", co[0], match="already requested")


# ---- refusals ------------------------------------------------------------------------------------
def test_refusals_leave_the_store_unchanged(desk_for, tmp_path):
    desk = desk_for([acct(), acct("A2")], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-200.00", total_deposit_amount="200.00"),
        sa("G1", "G-RES", payoff="50.00", current="50.00"),
        sa("DEP2", "DEP-RES", account_id="A2", status="stopped", stop_date="2026-11-01",
           last_interest_date="2026-11-01", payoff="-100.00", current="0.00"),
        sa("E2", "E-RES", account_id="A2", payoff="10.00", current="10.00")])
    desk.refused("refund", "partial", "DEP1", "--amount", "200.01", match="more than the "
                 "deposit held on SA DEP1: 200.00")
    desk.refused("refund", "partial", "DEP2", "--amount", "10.00",
                 match="SA DEP2 is stopped; a partial refund needs an active deposit SA")
    desk.refused("refund", "partial", "G1", "--amount", "10.00",
                 match="SA G1 (G-RES) is not a cash deposit SA")
    desk.refused("refund", "partial", "DEP1", "--amount", "0.00", match="more than 0.00")
    desk.refused("refund", "partial", "DEP1", "--amount", "1.234",
                 match="--amount: '1.234' has 3 decimals")
    desk.refused("refund", "partial", "DEP1", "--amount", "1e3", match="not a decimal amount")
    desk.refused("bill", "final", "DEP2", match="SA DEP2 is not synced: payoff -100.00, "
                                                "current 0.00")
    desk.refused("sa", "close", "DEP1", match="SA DEP1 is active; only a stopped SA")
    desk.refused("sa", "close", "G1", match="not a cash deposit SA")
    desk.refused("adjust", "transfer", "DEP1", "E2", "--amount", "5.00",
                 match="a transfer stays within one account")
    desk.refused("adjust", "transfer", "G1", "DEP1", "--amount", "5.00",
                 match="SA G1 has 0.00 of credit to transfer")
    desk.refused("adjust", "create", "DEP1", "--type", "DEPXFER", "--amount", "5.00",
                 match="use `deprules adjust transfer")
    desk.refused("adjust", "create", "DEP1", "--type", "NOPE", "--amount", "5.00",
                 match="unknown adjustment type 'NOPE'")
    desk.refused("deposit", "set-total", "G1", "--amount", "5.00", match="not a cash deposit")
    desk.refused("sa", "stop", "DEP1", "--date", "2025-05-31", match="before SA DEP1 started")
    # unknown ids, named
    desk.refused("refund", "partial", "NOSUCH", "--amount", "1.00", match="SA 'NOSUCH' is not")
    desk.refused("adjust", "approve", "A1-ADJ999", "--by", "sup1",
                 match="adjustment 'A1-ADJ999' is not in the ledger")
    desk.refused("adjust", "cancel", "X-ADJ001", match="adjustment 'X-ADJ001' is not")
    desk.refused("todo", "work", "A1-TD001", match="To Do 'A1-TD001' is not in the ledger")
    desk.refused("bill", "complete", "A1-BILL001", match="bill 'A1-BILL001' is not")
    desk.refused("todo", "list", "--account", "A9", match="account 'A9' is not")
    paid = tmp_path / "paid.csv"
    paid.write_text("request_id,amount\nA1-CHK001,70.00\n\nA1-CHK404,1.00\n")
    r = desk.refused("ap", "paid", paid, match=f"{paid}:2: unknown check request A1-CHK001")
    assert f"{paid}:4: unknown check request A1-CHK404" in r.stderr
    desk.refused("ap", "paid", tmp_path / "missing.csv", match="no such file")
    (tmp_path / "exists.csv").write_text("x\n")
    desk.refused("ap", "export", "--out", tmp_path / "exists.csv", match="never overwritten")
    # a refusal in JSON is an object too
    r = desk.invoke("refund", "partial", "G1", "--amount", "1.00", "--format", "json")
    assert r.exit_code == 2 and json.loads(r.stdout)["ok"] is False


def test_locked_store_is_refused(desk_for):
    desk = domain_example(desk_for)
    with Store.open(desk.store).writer(who="someone else"):
        r = desk.refused("refund", "partial", "DEP1", "--amount", "10.00", "--date", ON,
                         "--wait", "0", match="is locked by another writer")
        assert "someone else" in r.stderr
    desk.ok("refund", "partial", "DEP1", "--amount", "10.00", "--date", ON)


def test_reject_waiting_refund_freeze_later_cancel_pair_and_set_total(desk_for):
    desk = desk_for([acct()], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-900.00", total_deposit_amount="900.00"),
        sa("G1", "G-RES", payoff="50.00", current="50.00")])
    waiting = desk.json("refund", "partial", "DEP1", "--amount", "700.00", "--apply-to-debt",
                        "--date", ON, "--by", "csr1")
    r = desk.json("adjust", "reject", waiting["ap_adjustment_id"], "--by", "sup1", "--date", ON)
    assert r["adjustment"]["rejected_by"] == "sup1"
    acct_ = desk.account()
    assert {a["status"] for a in acct_["adjustments"]} == {"canceled"} and not acct_["checks"]
    assert desk.balances("DEP1") == ("-900.00", "0.00") and desk.balances("G1") == ("50.00",
                                                                                     "50.00")
    assert desk.sa("DEP1")["total_deposit_amount"] == "900.00"

    # a transfer is canceled with its twin, by reversing FTs
    pair = desk.json("adjust", "transfer", "DEP1", "G1", "--amount", "50.00", "--date", ON)
    desk.ok("adjust", "cancel", pair["adjustment_ids"][1], "--date", ON)
    assert desk.balances("G1") == ("50.00", "50.00")

    # an A/P refund left incomplete makes its check request when it is frozen
    made = desk.json("adjust", "create", "DEP1", "--type", "DEPAPREF", "--amount", "100.00",
                     "--no-freeze", "--date", ON)
    assert made["check_id"] is None and made["adjustment"]["status"] == "incomplete"
    desk.refused("refund", "partial", "DEP1", "--amount", "850.00", match="after 100.00")
    frozen = desk.json("adjust", "freeze", made["adjustment"]["adjustment_id"], "--date", ON)
    assert frozen["adjustment"]["status"] == "frozen"
    assert [c["amount"] for c in desk.account()["checks"]] == ["100.00"]

    desk.ok("deposit", "set-total", "DEP1", "--amount", "800.00", "--date", ON)
    assert desk.sa("DEP1")["total_deposit_amount"] == "800.00"
    desk.refused("deposit", "set-total", "DEP1", "--amount", "-1.00", match="is negative")


# ---- the store: A/P files survive a kill, audit, one account read -------------------------------
def test_ap_export_killed_after_its_commit_is_delivered_by_the_next_export(desk_for, tmp_path,
                                                                          monkeypatch):
    """The file is written and fsynced before the commit that marks the checks requested; a
    kill after that commit (here: before the file got its name) loses nothing: the next
    export delivers the batch first, exactly once."""
    from deprules import apfiles

    desk = domain_example(desk_for)
    desk.ok("refund", "partial", "DEP1", "--amount", "70.00", "--date", ON)
    out = tmp_path / "ap.csv"

    def killed(tmp, out_file):
        raise KeyboardInterrupt  # as far as the store goes, the process died here

    monkeypatch.setattr(apfiles, "publish", killed)
    r = desk.invoke("ap", "export", "--out", out, "--date", ON)
    assert r.exit_code == 130 and not out.exists()
    assert apfiles.tmp_name(out).exists()  # the whole file, synced, under its temporary name
    assert [c["status"] for c in desk.account()["checks"]] == ["requested"]
    monkeypatch.undo()
    r = desk.ok("ap", "export", "--out", tmp_path / "next.csv", "--date", ON)
    assert f"delivered A/P batch g3-ap to {out.resolve()}" in r.stderr
    assert [row["request_id"] for row in read_csv(out)] == ["A1-CHK001"]
    assert read_csv(tmp_path / "next.csv") == [] and not apfiles.tmp_name(out).exists()
    # taken by A/P (removed) after delivery: never written again
    out.unlink()
    desk.ok("ap", "export", "--out", tmp_path / "third.csv", "--date", ON)
    assert not out.exists()


def test_ap_export_killed_before_its_commit_leaves_the_store_and_no_file(desk_for, tmp_path,
                                                                        monkeypatch):
    from deprules.ledger import sqlstore

    desk = domain_example(desk_for)
    desk.ok("refund", "partial", "DEP1", "--amount", "70.00", "--date", ON)
    out = tmp_path / "ap.csv"

    def die(point, conn):
        if point == "journaled":
            raise KeyboardInterrupt

    monkeypatch.setattr(sqlstore, "HOOKS", [die])
    assert desk.invoke("ap", "export", "--out", out, "--date", ON).exit_code == 130
    monkeypatch.undo()
    assert not out.exists() and [c["status"] for c in desk.account()["checks"]] == ["not_selected"]
    desk.ok("ap", "export", "--out", out, "--date", ON)
    assert [row["request_id"] for row in read_csv(out)] == ["A1-CHK001"]


def test_journal_audits_every_command_and_backdating_is_refused(desk_for):
    from deprules.ledger.sqlstore import Store

    desk = domain_example(desk_for)
    desk.ok("run", "cycle", "--date", ON, "--by", "batch", "--reason", "nightly")
    r = desk.refused("run", "WPM", "--date", "2026-11-20",
                     match="process date 2026-11-20 is earlier than the store's last run "
                           "(2026-11-21); pass --allow-backdate")
    desk.ok("run", "WPM", "--date", "2026-11-20", "--allow-backdate")
    desk.ok("sa", "pending-stop", "E1", "--date", "2026-12-31", "--reason", "moving")
    j = Store.open(desk.store).journal()
    assert [e["kind"] for e in j] == ["init", "run", "run", "manual"]
    for e in j:
        assert e["utc"] and e["user"] and e["command"] and e["run_id"] and e["config_hash"]
    assert (j[1]["user"], j[1]["reason"], j[1]["process_date"]) == ("batch", "nightly", ON)
    # sa pending-stop journals the day it was done (its --date is the stop date)
    assert j[3]["process_date"] == date.today().isoformat() and j[3]["reason"] == "moving"
    assert j[3]["account_id"] == "A1" and j[3]["accounts_written"] == 1
    assert r.exit_code == 2


def test_one_account_commands_read_one_account(desk_for, monkeypatch):
    from deprules.ledger import sqlstore

    desk = desk_for([acct(), acct("A2")], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-200.00", total_deposit_amount="200.00"),
        sa("DEP2", "DEP-RES", account_id="A2", start="2025-06-01", payoff="-100.00",
           total_deposit_amount="100.00")])
    loaded = []
    real = sqlstore.Reader.load

    def spy(self, account_ids=None, snapshot=None):
        states = real(self, account_ids, snapshot)
        loaded.append(sorted(states))
        return states

    monkeypatch.setattr(sqlstore.Reader, "load", spy)
    desk.ok("refund", "partial", "DEP2", "--amount", "10.00", "--date", ON, check=False)
    desk.ok("ledger", "show", "A2", check=False)
    assert loaded == [["A2"], ["A2"]]


def test_todo_list_puts_the_most_urgent_type_first(tmp_path):
    """todo list orders by the To Do type's configured priority (1 first), then age: an
    approval (ADJ-APPROVAL, priority 1) made after the cycle's To Dos (priority 2) is first."""
    import json as _json

    from click.testing import CliRunner

    from deprules.cli import cli

    store = str(tmp_path / "store")
    run = lambda *a: CliRunner().invoke(cli, list(a), catch_exceptions=False)  # noqa: E731
    assert run("ledger", "init", "--extract", "examples/extract", "--store", store).exit_code == 0
    assert run("run", "cycle", "--store", store, "--date", "2026-11-21").exit_code == 0
    r = run("refund", "partial", "S0000035", "--amount", "600.00", "--apply-to-debt", "--date",
            "2026-11-21", "--store", store, "--by", "bob")
    assert r.exit_code == 0, r.output
    rows = _json.loads(run("todo", "list", "--status", "open", "--store", store, "--format",
                           "json").output)["todos"]
    assert [t["priority"] for t in rows] == sorted(t["priority"] for t in rows)
    assert rows[0]["todo_type"] == "ADJ-APPROVAL" and rows[0]["priority"] == 1
    assert rows[1:] and all(t["priority"] >= 2 for t in rows[1:])
    text = run("todo", "list", "--status", "open", "--store", store).output.splitlines()
    assert text[0].split()[1:3] == ["ADJ-APPROVAL", "P1"]
    # the priority is the configuration's: changed there, the order changes (store untouched)
    import shutil

    shutil.copytree("config", tmp_path / "config")
    cfg = tmp_path / "config" / "todo_types.yaml"
    cfg.write_text(cfg.read_text().replace("priority: 1", "priority: 9"))
    rows = _json.loads(run("todo", "list", "--status", "open", "--store", store, "--config",
                           str(tmp_path / "config"), "--format", "json").output)["todos"]
    assert rows[-1]["todo_type"] == "ADJ-APPROVAL" and rows[-1]["priority"] == 9
