"""The A/P interface (seed 1.7 - 1.9): the check requests, the export that marks them
requested, holding one back, and payments reported by A/P.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from ..errors import InputError, LedgerError
from ..ledger import Ledger
from ..ledger.executor import Executor
from ..ledger.model import AccountState, Cause
from ..money import MoneyFormatError, format_money, parse_money
from ..workspace import Setup
from .common import AP_COLUMNS, Result, _step, _m, find_check, _result


# ---- A/P interface (seed 1.7 - 1.9) ------------------------------------------------------------
def check_row(st: AccountState, c, setup: Setup) -> dict:
    return {"request_id": c.check_id, "payee_account_id": c.payee_account_id,
            "payee_name": st.account.name or "", "amount": _m(setup, c.amount),
            "date": c.created_on.isoformat(), "adjustment_id": c.adjustment_id,
            "sa_id": c.sa_id, "status": c.status}


def list_checks(ledger: Ledger, setup: Setup, status: str | None = None) -> list[dict]:
    states = [ledger.states[k] for k in sorted(ledger.states)]
    return [check_row(st, c, setup) for st in states for c in st.checks
            if status is None or c.status == status]


def ap_export(ledger: Ledger, setup: Setup, on: date, cause: Cause) -> tuple[list[dict], dict]:
    """Every not_selected check request, now ``requested`` (seed 1.7). Returns the CSV rows
    (see :data:`AP_COLUMNS`) and a summary."""
    rows, total = [], 0
    c = _step(cause, "1.7")
    for k in sorted(ledger.states):
        st = ledger.states[k]
        pending = [chk for chk in st.checks if chk.status == "not_selected"]
        if not pending:
            continue
        ex = Executor(st, setup.config, on)
        for chk in pending:
            rows.append({col: v for col, v in check_row(st, chk, setup).items()
                         if col in AP_COLUMNS})
            ex.set_check_status(chk, "requested", c)
            total += chk.amount
    return rows, {"requests": len(rows), "amount": _m(setup, total)}


def hold_check(ledger: Ledger, setup: Setup, check_id: str, on: date, cause: Cause,
               hold: bool = True) -> Result:
    """Hold a check request out of the A/P export (seed 1.7; status ``hold``), or release it
    back to ``not_selected`` so the next ``ap export`` takes it. Only a request A/P has not
    taken (not_selected) can be held; its adjustment stays as it is."""
    st, chk = find_check(ledger, check_id)
    want, need = ("hold", "not_selected") if hold else ("not_selected", "hold")
    if chk.status != need:
        raise LedgerError(f"check request {check_id} is {chk.status}; only a {need} request can "
                          f"be {'held' if hold else 'released'}")
    since = len(st.journal)
    Executor(st, setup.config, on).set_check_status(chk, want, _step(cause, "1.7"))
    what = ("held: ap export leaves it out until it is released" if hold
            else "released: the next ap export takes it")
    return _result("ap_hold" if hold else "ap_release", st, since, setup,
                   f"check request {check_id} for {_m(setup, chk.amount)} {what}", [chk.sa_id],
                   check_id=check_id)


def read_ap_csv(path: Path | str) -> list[tuple[int, dict]]:
    """(line number, row) for each non-blank row of an A/P file; it needs a request_id column.

    ``-`` reads standard input, named ``<stdin>`` in messages.
    """
    if str(path) == "-":
        import io

        from ..yamlload import read_stdin_bytes

        try:
            text = read_stdin_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"<stdin>: byte {exc.start} is not UTF-8; send the A/P file "
                             "as UTF-8") from None
        path, fh = "<stdin>", io.StringIO(text, newline="")
    else:
        try:
            fh = open(path, newline="")
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
    with fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "request_id" not in reader.fieldnames:
            raise InputError(f"{path}:1: the header has no request_id column")
        return [(reader.line_num, row) for row in reader
                if any((v or "").strip() for v in row.values())]


def ap_paid(ledger: Ledger, setup: Setup, rows: list[tuple[int, dict]], on: date, cause: Cause,
            source: str = "file") -> dict:
    """Mark the listed check requests paid (seed 1.8, 1.9); every line is checked first and
    all problems are reported together, naming ``source:line``."""
    if not rows:
        raise InputError(f"{source}: lists no check requests")
    problems, found, seen = [], [], {}
    mu = setup.config.installation.minor_units
    for line, row in rows:
        rid = (row.get("request_id") or "").strip()
        where = f"{source}:{line}"
        if not rid:
            problems.append(f"{where}: no request_id")
            continue
        if rid in seen:
            problems.append(f"{where}: request {rid} is listed twice (also line {seen[rid]})")
            continue
        seen[rid] = line
        try:
            st, chk = find_check(ledger, rid)
        except InputError:
            problems.append(f"{where}: unknown check request {rid}")
            continue
        if chk.status != "requested":
            problems.append(f"{where}: check request {rid} is {chk.status}, not requested")
            continue
        amount = (row.get("amount") or "").strip()
        if amount:
            try:
                paid = parse_money(amount, mu)
            except MoneyFormatError as exc:
                problems.append(f"{where}: amount {exc}")
                continue
            if paid != chk.amount:
                problems.append(f"{where}: check request {rid} is for "
                                f"{format_money(chk.amount, mu)}, the file says {amount}")
                continue
        found.append((st, chk))
    if problems:
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InputError("nothing marked paid:\n" + "\n".join(problems[:20]) + more)
    c = _step(cause, "1.8")
    executors: dict[str, Executor] = {}
    for st, chk in found:
        ex = executors.setdefault(st.account_id, Executor(st, setup.config, on))
        ex.set_check_status(chk, "paid", c)
    total = sum(chk.amount for _, chk in found)
    return {"paid": len(found), "amount": format_money(total, mu),
            "request_ids": [chk.check_id for _, chk in found]}
