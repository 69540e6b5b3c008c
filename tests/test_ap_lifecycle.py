"""The A/P lifecycle after a check request: void and returned checks, and the approval
timeout (ADTIMEOUT), through the real CLI on real store files.

Every accepted command leaves `ledger check` clean (Desk.ok); every refused one exits 2 and
leaves the store as it was.
"""

from __future__ import annotations

from helpers import acct, sa
from test_manual import ON, desk_for  # noqa: F401  (the fixture)


def partial(desk_for, amount="70.00"):  # noqa: F811
    desk = desk_for([acct()], [sa("DEP1", "DEP-RES", start="2026-01-01", payoff="-200.00",
                                  total_deposit_amount="200.00")])
    desk.ok("refund", "partial", "DEP1", "--amount", amount, "--date", ON)
    return desk


def unchanged(desk, *args, match):
    before = desk.account()
    desk.refused(*args, match=match)
    assert desk.account() == before


def test_void_of_a_requested_check_puts_the_partial_refund_back(desk_for, tmp_path):  # noqa: F811
    desk = partial(desk_for)
    unchanged(desk, "ap", "void", "A1-CHK001", "--reason", "typo", "--date", ON,
              match="only a paid or requested check can be void")
    desk.ok("ap", "export", "--out", tmp_path / "ap.csv", "--date", ON, "--by", "ap1")
    unchanged(desk, "ap", "void", "A1-CHK001", "--date", ON, "--by", "ap1",
              match="say why check request A1-CHK001 is void (--reason TEXT)")
    unchanged(desk, "ap", "returned", "A1-CHK001", "--reason", "back", "--date", ON,
              match="only a paid check can be returned")
    r = desk.json("ap", "void", "A1-CHK001", "--date", "2026-11-22", "--by", "ap1",
                  "--reason", "payee name misspelt")
    assert (r["action"], r["status"], r["adjustment_ids"], r["total_deposit_back"]) == (
        "ap_void", "void", ["A1-ADJ003", "A1-ADJ004"], "70.00")
    dep = desk.sa("DEP1")
    assert (dep["status"], dep["payoff_balance"], dep["current_balance"],
            dep["total_deposit_amount"]) == ("active", "-200.00", "0.00", "200.00")
    acct_ = desk.account()
    assert [(a["adjustment_id"], a["category"], a["amount"], a["status"])
            for a in acct_["adjustments"]] == [
        ("A1-ADJ001", "ap_refund", "70.00", "frozen"),
        ("A1-ADJ002", "current_only", "-70.00", "frozen"),
        ("A1-ADJ003", "ap_refund", "-70.00", "frozen"),
        ("A1-ADJ004", "current_only", "70.00", "frozen")]
    assert [(c["check_id"], c["status"]) for c in acct_["checks"]] == [("A1-CHK001", "void")]
    rev = [e for e in acct_["journal"] if e["kind"] == "check_reversal"]
    assert [(e["user"], e["reason"], e["process"], e["seed_step"], e["detail"]["to_status"])
            for e in rev] == [("ap1", "payee name misspelt", "AP", "1.9", "void")]
    assert all(e["user"] == "ap1" and e["reason"] == "payee name misspelt"
               for e in acct_["journal"] if e["on"] == "2026-11-22")
    # neither the refund nor its reversal can be canceled now
    unchanged(desk, "adjust", "cancel", "A1-ADJ001", "--date", ON,
              match="already void (cancel only while not_selected)")
    unchanged(desk, "adjust", "cancel", "A1-ADJ003", "--date", ON,
              match="put a void or returned check's money back; it cannot be canceled")
    unchanged(desk, "ap", "void", "A1-CHK001", "--reason", "again", "--date", ON,
              match="A1-CHK001 is void")
    assert desk.json("ap", "list", "--status", "void")["check_requests"][0]["status"] == "void"


def test_returned_check_reactivates_the_closed_sa_and_wpm_refunds_again(desk_for,  # noqa: F811
                                                                         tmp_path):
    desk = desk_for([acct(credit_rating=800)], [
        sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-200.00",
           total_deposit_amount="200.00", last_interest_date="2026-11-21")])
    desk.ok("run", "cycle", "--date", ON, "--by", "batch")
    assert desk.sa("DEP1")["status"] == "closed"
    desk.ok("ap", "export", "--out", tmp_path / "ap.csv", "--date", ON, "--by", "ap1")
    desk.ok("ap", "paid", tmp_path / "ap.csv", "--date", "2026-11-23", "--by", "ap1")
    r = desk.json("ap", "returned", "A1-CHK001", "--date", "2026-11-30", "--by", "ap1",
                  "--reason", "returned by the post office")
    assert "SA DEP1 reactivated" in r["message"] and r["total_deposit_back"] == "0.00"
    dep = desk.sa("DEP1")
    assert (dep["status"], dep["payoff_balance"], dep["current_balance"]) == (
        "reactivated", "-200.00", "-200.00")
    moves = [(e["detail"]["from_status"], e["detail"]["to_status"])
             for e in desk.account()["journal"] if e["kind"] == "status"]
    assert moves[-1] == ("closed", "reactivated")
    # the write-off monitor refunds it again and closes it
    desk.ok("run", "WPM", "--date", "2026-12-01", "--by", "batch")
    acct_ = desk.account()
    assert [(c["amount"], c["status"]) for c in acct_["checks"]] == [
        ("200.00", "returned"), ("200.00", "not_selected")]
    assert desk.sa("DEP1")["status"] == "closed"
    assert [a["amount"] for a in acct_["adjustments"] if a["category"] == "ap_refund"] == [
        "200.00", "-200.00", "200.00"]


def test_approval_timeout_gives_one_todo_after_timeout_days(desk_for):  # noqa: F811
    desk = desk_for([acct(), acct("A2")], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-1000.00",
           total_deposit_amount="1000.00"),
        sa("DEP2", "DEP-RES", start="2025-06-01", payoff="-1000.00",
           total_deposit_amount="1000.00", account_id="A2")], name="t")
    adj = desk.json("refund", "partial", "DEP1", "--amount", "600.00", "--date",
                    ON)["ap_adjustment_id"]
    desk.ok("refund", "partial", "DEP2", "--amount", "40.00", "--date", ON)  # no approval

    def timeouts(on):
        return desk.json("run", "ADTIMEOUT", "--date", on, "--by", "batch")

    first = timeouts("2026-11-26")  # 5 days waited: CSR-STD allows 5
    assert (first["process"], first["accounts"], first["todos_created"]) == ("ADTIMEOUT", 1, {})
    second = timeouts("2026-11-27")
    assert (second["accounts_changed"], second["todos_created"], second["rules_fired"]) == (
        1, {"ADJ-TIMEOUT": 1}, {"approval/timeout": 1})
    assert timeouts("2026-11-27")["todos_created"] == {}  # the same date again: nothing
    assert timeouts("2026-11-30")["todos_created"] == {}  # while it is open: nothing
    todos = desk.json("todo", "list", "--type", "ADJ-TIMEOUT")["todos"]
    assert [(t["sa_id"], t["adjustment_id"], t["status"], t["role"]) for t in todos] == [
        ("DEP1", adj, "open", "FIN-SUPERVISOR")]
    entry = [e for e in desk.account()["journal"] if e["kind"] == "approval_timeout"]
    assert [(e["process"], e["rule"], e["seed_step"], e["detail"]["waited_days"],
             e["detail"]["timeout_days"]) for e in entry] == [
        ("ADTIMEOUT", "approval/timeout", "3.0.2.5", 6, 5)]
    # deciding the adjustment ends its timeout To Do as well
    desk.ok("adjust", "approve", adj, "--by", "sup1", "--date", "2026-12-01")
    assert [t["status"] for t in desk.json("todo", "list", "--type", "ADJ-TIMEOUT")["todos"]] \
        == ["complete"]
    assert timeouts("2026-12-02")["accounts"] == 0
