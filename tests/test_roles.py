"""Users and roles (config/users.yaml): who may act on a store, and who may approve.

Driven through the real CLI on real store files: with a users file, every store command's
user must be listed, and an adjustment waiting for approval is decided only by a user with
its approval profile's approver_role, never by its creator; every refusal exits 2 and leaves
the store exactly as it was. Without a users file names are free (the old behaviour).
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from helpers import acct, sa
from test_manual import ON, desk_for  # noqa: F401  (the fixture)

from deprules.cli import cli

USERS = """\
# yaml-language-server: $schema=../schemas/users.schema.json
users:
  csr1: {name: Casey, roles: [csr, approver]}
  csr2: {roles: [csr]}
  sup1: {roles: [approver]}
  ap1: {roles: [ap]}
  batch: {roles: [operator]}
"""


@pytest.fixture()
def users_config(root, tmp_path):
    folder = tmp_path / "config-users"
    shutil.copytree(root / "config", folder)
    (folder / "users.yaml").write_text(USERS, encoding="utf-8")
    return str(folder)


def big_refund(desk, by="csr1") -> str:
    out = desk.json("refund", "partial", "DEP1", "--amount", "600.00", "--date", ON, "--by", by)
    assert out["waits_for_approval"] is True
    return out["ap_adjustment_id"]


def deposit(desk_for, config=None, name="s"):  # noqa: F811
    return desk_for([acct()], [sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-1000.00",
                                  total_deposit_amount="1000.00")], config, name)


def refused_unchanged(desk, *args, match: str):
    """Refused (exit 2, one line naming the problem) and the store exactly as it was."""
    before = desk.account()
    r = desk.refused(*args, match=match)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert desk.account() == before
    return r


def test_only_a_user_with_the_approver_role_approves(desk_for, users_config):  # noqa: F811
    desk = deposit(desk_for, users_config)
    adj = big_refund(desk)
    refused_unchanged(desk, "adjust", "approve", adj, "--by", "csr2", "--date", ON,
                      match="csr2 may not approve adjustment A1-ADJ001: approval profile "
                            "CSR-STD needs role approver (csr2 has csr)")
    refused_unchanged(desk, "adjust", "reject", adj, "--by", "ap1", "--date", ON,
                      match="needs role approver (ap1 has ap)")
    # the creator holds the role too, and still cannot
    refused_unchanged(desk, "adjust", "approve", adj, "--by", "csr1", "--date", ON,
                      match="csr1 created adjustment A1-ADJ001 and cannot approve it")
    refused_unchanged(desk, "adjust", "approve", adj, "--by", "mallory", "--date", ON,
                      match="unknown user 'mallory'")
    assert desk.sa("DEP1")["payoff_balance"] == "-1000.00"

    r = desk.json("adjust", "approve", adj, "--by", "sup1", "--date", "2026-11-22")
    assert (r["adjustment"]["status"], r["adjustment"]["approved_by"]) == ("frozen", "sup1")
    assert r["check_id"] == "A1-CHK001"
    assert (desk.sa("DEP1")["payoff_balance"], desk.sa("DEP1")["total_deposit_amount"]) == (
        "-400.00", "400.00")
    approve = [e for e in desk.account()["journal"] if e["kind"] == "approve"]
    assert [(e["user"], e["detail"]["role"]) for e in approve] == [("sup1", "approver")]


def test_reject_needs_the_role_too(desk_for, users_config):  # noqa: F811
    desk = deposit(desk_for, users_config)
    adj = big_refund(desk)
    refused_unchanged(desk, "adjust", "reject", adj, "--by", "csr2", "--date", ON,
                      match="csr2 may not reject")
    r = desk.json("adjust", "reject", adj, "--by", "sup1", "--date", ON)
    assert (r["adjustment"]["status"], r["adjustment"]["rejected_by"]) == ("canceled", "sup1")


def test_every_store_command_needs_a_listed_user(desk_for, users_config, tmp_path,  # noqa: F811
                                                 monkeypatch):
    desk = deposit(desk_for, users_config)
    refused_unchanged(desk, "refund", "partial", "DEP1", "--amount", "10.00", "--by", "eve",
                      match="unknown user 'eve' (--by, $DEPRULES_USER or the login name): ")
    refused_unchanged(desk, "run", "cycle", "--date", ON, "--by", "eve",
                      match="lists ap1, batch, csr1, csr2, sup1")
    monkeypatch.setenv("DEPRULES_USER", "eve")  # the default --by
    refused_unchanged(desk, "deposit", "set-total", "DEP1", "--amount", "900.00",
                      match="unknown user 'eve'")
    r = CliRunner().invoke(cli, ["ledger", "init", "--extract", str(tmp_path / "extract-s"),
                                 "--store", str(tmp_path / "other"), "--config", users_config])
    assert r.exit_code == 2 and "unknown user 'eve'" in r.stderr
    assert not (tmp_path / "other").exists()
    # listed users work as before; the batch runs by a listed user too
    desk.ok("deposit", "set-total", "DEP1", "--amount", "900.00", "--by", "csr2")
    desk.ok("run", "cycle", "--date", ON, "--by", "batch")


def test_without_a_users_file_any_other_name_decides(desk_for):  # noqa: F811
    desk = deposit(desk_for)
    adj = big_refund(desk)
    desk.refused("adjust", "approve", adj, "--by", "csr1", match="cannot approve it")
    r = desk.json("adjust", "approve", adj, "--by", "whoever", "--date", ON)
    assert r["adjustment"]["approved_by"] == "whoever"
    approve = [e for e in desk.account()["journal"] if e["kind"] == "approve"]
    assert "role" not in approve[0]["detail"]


def test_users_file_problems_are_located(root, tmp_path):
    folder = tmp_path / "config"
    shutil.copytree(root / "config", folder)
    (folder / "users.yaml").write_text(
        "users:\n  csr1: {roles: [csr]}\n  sup1: {roles: [boss]}\n  csr1: {roles: [ap]}\n",
        encoding="utf-8")
    r = CliRunner().invoke(cli, ["validate", "--config", str(folder)])
    assert r.exit_code == 1
    assert f"{folder}/users.yaml:4:3: $.users.csr1: duplicate key 'csr1'" in r.output
    (folder / "users.yaml").write_text("users:\n  sup1: {roles: [boss]}\n", encoding="utf-8")
    (folder / "approval_profiles.yaml").write_text(
        (root / "config" / "approval_profiles.yaml").read_text().replace(
            "approver_role: approver", "approver_role: FIN-SUPERVISOR"), encoding="utf-8")
    r = CliRunner().invoke(cli, ["validate", "--config", str(folder), "--format", "json"])
    assert r.exit_code == 1
    found = {(p["file"].rsplit("/", 1)[-1], p["line"], p["column"], p["code"], p["message"])
             for p in json.loads(r.stdout)["problems"]}
    known = "known: analyst, ap, approver, csr, operator"
    assert found == {
        ("users.yaml", 2, 18, "unknown-reference", f"unknown role 'boss'; {known}"),
        ("approval_profiles.yaml", 11, 20, "unknown-reference",
         f"unknown role 'FIN-SUPERVISOR'; {known}")}


def test_config_show_lists_the_users(users_config):
    r = CliRunner().invoke(cli, ["config", "show", "--config", users_config])
    assert r.exit_code == 0, r.output
    assert "CSR-STD: above 500.00 needs approver, To Do ADJ-TIMEOUT after 5 days waiting" \
        in r.output
    assert "  sup1: approver\n" in r.output and "  csr1: approver, csr\n" in r.output


def test_users_are_not_part_of_the_configuration_hash(root, users_config):
    from deprules.workspace import load_setup

    plain, with_users = load_setup(root / "config"), load_setup(users_config)
    assert plain.config.users is None and "sup1" in with_users.config.users
    assert plain.hash == with_users.hash


def test_one_vocabulary_of_roles():
    from deprules import service, tokens, users

    assert tokens.ROLES is users.ROLES
    assert set().union(*service.ACCESS.values()) <= set(users.ROLES)


def test_the_service_decides_with_its_tokens_roles(setup):
    """An approval the service makes passes the token's user and roles to the same rule."""
    from datetime import date

    from deprules.approvals import check_decider
    from deprules.errors import LedgerError
    from deprules.ledger.model import Adjustment, Cause

    adj = Adjustment("A1-ADJ001", "A1", "DEP1", "DEPAPREF", "ap_refund", 60000,
                     "pending_approval", "csr", date(2026, 11, 21), Cause("CSR", user="csr1"))
    with pytest.raises(LedgerError, match="needs role approver \\(alice has analyst\\)"):
        check_decider(setup.config, adj, "alice", "approve", roles={"analyst"})
    with pytest.raises(LedgerError, match="csr1 created"):
        check_decider(setup.config, adj, "csr1", "approve", roles={"approver"})
    assert check_decider(setup.config, adj, "bob", "approve", roles={"approver"}) == "approver"
