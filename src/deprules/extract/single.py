"""One account from a CSV extract, streamed with the csv module: no pandas, no full load.

``deprules evaluate`` needs one account; reading every table of a large extract into
pandas costs seconds. This reader keeps only the rows of that account and validates them
with the same column definitions (``TABLES``) and reason codes as the full reader. Other
accounts' rows are not checked here: ``deprules extract check`` does that.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

from ..errors import ExtractError, InputError, Problem
from ..money import MoneyFormatError, parse_money
from .context import BOOL, COUNT, DATE, INT, MONEY, STATUS, STATUS_CODES, STATUS_NAMES, TABLES

_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MIN_YEAR, MAX_YEAR = 1700, 2261  # as the full reader: what the ledger's date columns hold
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def csv_only(folder: Path) -> bool:
    """True when no table of the folder is Parquet (the streaming reader applies)."""
    return not any((folder / f"{t}.parquet").exists() for t in TABLES)


def _rows(path: Path, keep, problems) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            out = []
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                rec = dict(zip(header, (c.strip() for c in row)))
                if keep(rec):
                    if len(row) > len(header):
                        problems.append(Problem(path.name, reader.line_num, len(header) + 1, "",
                                                f"the row has {len(row)} fields, the header "
                                                f"{len(header)}", "bad-file"))
                        continue
                    out.append((reader.line_num, rec))
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        line = data.count(b"\n", 0, data.find(exc.object[exc.start:exc.end])) + 1
        problems.append(Problem(path.name, line, 0, "", f"the file is not UTF-8 text ({exc.reason});"
                                " save it as UTF-8", "bad-file"))
        return [], []
    return header, out


def _cell(table, file, line, col_index, column, text, ctx, problems):
    kind = column.kind
    where = (file, line, col_index, column.name)
    if text == "":
        if column.nullable:
            return None
        problems.append(Problem(*where, f"{column.name} is required", "missing-value"))
        return None
    try:
        if kind == MONEY:
            return parse_money(text, ctx.minor_units)
        if kind in (INT, COUNT):
            if not _INT_RE.match(text) or len(text.lstrip("+-")) > 18:
                raise ValueError("not a 64-bit integer")
            value = int(text)
            if kind == COUNT and value < 0:
                raise ValueError("a count cannot be negative")
            return value
        if kind == BOOL:
            low = text.lower()
            if low not in _TRUE | _FALSE:
                problems.append(Problem(*where, f"{text!r} is not true/false", "bad-boolean"))
                return None
            return low in _TRUE
        if kind == DATE:
            if not _DATE_RE.match(text):
                raise ValueError("not YYYY-MM-DD")
            value = date.fromisoformat(text)
            if not MIN_YEAR <= value.year <= MAX_YEAR:
                problems.append(Problem(*where, f"{text!r} is outside the years {MIN_YEAR} to "
                                        f"{MAX_YEAR}; leave the cell blank if there is no date",
                                        "bad-date"))
                return None
            return value
        if kind == STATUS:
            name = STATUS_CODES.get(text, text)
            if name not in STATUS_NAMES:
                problems.append(Problem(*where, f"unknown status {text!r}; use a name "
                                        f"({', '.join(STATUS_NAMES)}) or a code",
                                        "unknown-status"))
                return None
            return name
    except MoneyFormatError as exc:
        problems.append(Problem(*where, str(exc), "bad-money"))
        return None
    except ValueError:
        code = "bad-date" if kind == DATE else "bad-integer"
        problems.append(Problem(*where, f"{text!r} is not a valid {kind}", code))
        return None
    if kind.startswith("enum:"):
        what = kind.split(":", 1)[1]
        known = {"customer_class": ctx.customer_classes, "deposit_class": ctx.deposit_classes,
                 "sa_type": set(ctx.sa_types), "ncd_type": ctx.ncd_types}[what]
        if text not in known:
            problems.append(Problem(*where, f"unknown {what.replace('_', ' ')} {text!r}",
                                    f"unknown-{what.replace('_', '-')}"))
            return None
    return text


def _parse(table, folder, keep, ctx, problems) -> list[dict]:
    path = folder / f"{table}.csv"
    if not path.exists():
        return []
    header, rows = _rows(path, keep, problems)
    columns = TABLES[table]
    for c in columns:
        if c.required and c.name not in header:
            problems.append(Problem(path.name, 1, 0, c.name,
                                    f"missing required column {c.name}", "missing-column"))
    out = []
    for line, rec in rows:
        values = {}
        for c in columns:
            idx = header.index(c.name) + 1 if c.name in header else 0
            values[c.name] = _cell(table, path.name, line, idx, c, rec.get(c.name, ""), ctx,
                                   problems)
        values["_line"] = line
        out.append(values)
    return out


def load_account(folder: Path | str, account_id: str, ctx, config):
    """The AccountState of ``account_id``, or None when the extract does not hold it."""
    from ..ledger.model import Account, AccountState, HistoryFT, NonCashDeposit, ServiceAgreement

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"extract folder {folder} does not exist")
    for t in ("accounts", "service_agreements"):
        if not (folder / f"{t}.csv").exists():
            raise InputError(f"extract folder {folder} has no {t}.csv")
    problems: list[Problem] = []
    accounts = _parse("accounts", folder, lambda r: r.get("account_id") == account_id, ctx,
                      problems)
    if not accounts and not problems:
        return None
    sas = _parse("service_agreements", folder, lambda r: r.get("account_id") == account_id,
                 ctx, problems)
    sa_ids = {s["sa_id"] for s in sas}
    ncds = _parse("non_cash_deposits", folder, lambda r: r.get("account_id") == account_id,
                  ctx, problems)
    fts = _parse("financial_transactions", folder, lambda r: r.get("sa_id") in sa_ids, ctx,
                 problems)
    if len(accounts) > 1:
        problems.append(Problem("accounts.csv", accounts[1]["_line"], 1, "account_id",
                                f"duplicate id {account_id!r} (first at line "
                                f"{accounts[0]['_line']})", "duplicate-id"))
    seen: dict[str, int] = {}
    for s in sas:
        if s["sa_id"] in seen:
            problems.append(Problem("service_agreements.csv", s["_line"], 1, "sa_id",
                                    f"duplicate id {s['sa_id']!r} (first at line "
                                    f"{seen[s['sa_id']]})", "duplicate-id"))
        seen.setdefault(s["sa_id"], s["_line"])
        if s["status"] in ("pending_stop", "stopped") and s["stop_date"] is None and \
                s["start_date"] is not None:
            problems.append(Problem("service_agreements.csv", s["_line"], 0, "stop_date",
                                    f"a {s['status']} SA needs a stop_date", "missing-stop-date"))
        if s["stop_date"] and s["start_date"] and s["stop_date"] < s["start_date"]:
            problems.append(Problem("service_agreements.csv", s["_line"], 0, "stop_date",
                                    "stop_date is before start_date", "stop-before-start"))
    if problems:
        raise ExtractError(problems, what=str(folder))
    a = accounts[0]
    state = AccountState(Account(a["account_id"], a["customer_class"], a["credit_rating"],
                                 a["late_payments_12m"] or 0, bool(a["do_not_refund"]),
                                 a["cc_postpone_date"]))
    for s in sas:
        is_dep = ctx.sa_types[s["sa_type"]].is_cash_deposit
        total = s["total_deposit_amount"]
        if total is None:
            total = max(0, -s["payoff_balance"]) if is_dep else 0
        state.sas[s["sa_id"]] = ServiceAgreement(
            s["sa_id"], account_id, s["sa_type"], s["status"], s["start_date"], s["stop_date"],
            s["current_balance"], s["payoff_balance"], total,
            s["last_interest_date"] or s["start_date"],
            opening_payoff=s["payoff_balance"], opening_current=s["current_balance"])
    for n in ncds:
        state.ncds.append(NonCashDeposit(n["ncd_id"], account_id, n["deposit_class"],
                                         n["ncd_type"], n["amount"], n["start_date"],
                                         n["end_date"]))
    for f in fts:
        state.history.append(HistoryFT(f["ft_id"], account_id, f["sa_id"], f["date"],
                                       f["payoff_amount"], f["current_amount"]))
    return state
