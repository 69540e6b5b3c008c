"""One account from an extract, without a full load: no pandas, nothing else kept.

``deprules evaluate`` needs one account; reading every table of a large extract into
pandas costs seconds. This reader looks for the account's rows in each table file and
checks them with the same rules and words as the full reader (``cells.py``):

- a CSV file is streamed once through the same byte checks as the full reader
  (``scan.py``: UTF-8, line ends, quotes, line lengths, sizes, the row limit) and the
  same file checks (``files.py``: regular files only); the rows of the account are found
  by searching the bytes for its ids, so only those lines are split into cells;
- a Parquet file is read by row group (``rowgroups.py``): its footer (row count, columns
  and their types) is checked as the full reader checks it, and only the row groups whose
  statistics may hold one of the ids are read. A Parquet extract sorted by account
  (``deprules extract convert``) costs a few row groups per table whatever its size.

Which rows are checked: every row of the account (its ``accounts`` row, its SAs and
non-cash deposits, the FTs of its SAs), every row that shares an id with one of those (a
duplicate ``sa_id`` in another account is found by a second search for the account's SA
ids), and every CSV line that names one of those ids but does not have the header's
number of fields. Rows of other accounts are not checked (nor, in Parquet, the pages of
row groups that were not read): ``deprules extract check`` does that.
An extract the full reader refuses because of one of the account's rows is refused here
with the same problem (``tests/test_extract_single.py`` checks this on the hostile corpus).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExtractError, InputError
from . import cells
from .cells import Report
from .csvindex import IndexMismatch
from .context import BOOL, COUNT, DATE, INT, MONEY, REQUIRED_TABLES, STATUS, TABLES
from .files import (NotReadable, TableFile, TableReader, locate_tables, max_bytes, open_table,
                    present_tables)
from .scan import CsvProblem, CsvScan, split_line

# above this many ids to look for, every line is split instead of searched for each id
MAX_NEEDLES = 64


@dataclass
class _Row:
    line: int
    cells: list[str]
    values: dict = field(default_factory=dict)
    valid: set = field(default_factory=set)  # columns whose cell parsed (or is blank-allowed)


class _Table(TableReader):
    """One table file: its header (checked) and the rows a search keeps (``readable``:
    scanned without a problem, with a header; ``unusable``: columns with a cell too long
    to look at)."""

    def __init__(self, tf: TableFile, report: Report, limits: tuple[int, int]):
        super().__init__(tf, report, limits)
        self._ragged: set[int] = set()

    def close(self) -> None:
        pass  # every search opens and closes the file

    def search(self, column: str, wanted: set[str], first: bool) -> list[_Row]:
        """Rows whose ``column`` is one of ``wanted``. The first search of a file checks
        the whole file and its header; a problem there is reported and nothing is kept."""
        if not first and not self.readable:
            return []
        rows: list[_Row] = []
        try:
            with open_table(self.tf.path, self.limits[1]) as f:
                scan = CsvScan(f, self.limits[0], cells.MAX_ROWS_ENV, checks=first)
                for start, block in scan.blocks():
                    if not self.positions and scan.header is not None:
                        self._header(scan.header)  # known once the first block is read
                    self._keep(block, start, column, wanted, rows)
        except CsvProblem as p:
            self.report.add(self.file, p.line, p.column, p.path, p.message, p.code)
            return []
        except NotReadable as exc:
            self.report.add(self.file, 0, 0, "", exc.message, exc.code)
            return []
        except OSError as exc:
            self.report.add(self.file, 0, 0, "", f"cannot read the file: {exc.strerror or exc}",
                            "bad-file")
            return []
        if first and scan.header is None:
            self.report.add(self.file, 1, 0, "", cells.no_header_message(self.table),
                            "empty-table")
            return []
        if not self.positions:  # a header and no data lines
            self._header(scan.header)
        if first:
            self.readable = True
        return rows

    def _header(self, header: list[str]) -> None:
        self.positions = cells.header_problems(self.report, self.table, self.file, header, 1)
        self.width = len(header)

    def _keep(self, block: bytes, start: int, column: str, wanted: set[str],
              rows: list[_Row]) -> None:
        pos = self.positions.get(column)
        if pos is None or not wanted:
            return
        needles = [w.encode("utf-8") for w in wanted]
        line_no, at = start, 0
        for begin in _candidates(block, needles):
            line_no += block.count(b"\n", at, begin)
            at = begin
            text = block[begin:block.find(b"\n", begin)].decode("utf-8")
            fields = [c.strip() for c in split_line(text)]
            if len(fields) != self.width:
                if line_no not in self._ragged and any(c in wanted for c in fields):
                    self._ragged.add(line_no)
                    self.report.add(self.file, line_no, 0, "", cells.ragged_message(
                        len(fields), self.width), "bad-file")
                continue
            if fields[pos - 1] in wanted:
                rows.append(_Row(line_no, fields))


def _candidates(block: bytes, needles: list[bytes]) -> list[int]:
    """Offsets of the lines of ``block`` holding one of ``needles``, in order."""
    if len(needles) > MAX_NEEDLES:
        starts, pos = [0], block.find(b"\n")
        while pos >= 0 and pos + 1 < len(block):
            starts.append(pos + 1)
            pos = block.find(b"\n", pos + 1)
        return starts if block else []
    found: set[int] = set()
    for needle in needles:
        pos = block.find(needle)
        while pos >= 0:
            found.add(block.rfind(b"\n", 0, pos) + 1)
            pos = block.find(needle, block.find(b"\n", pos))
    return sorted(found)


# --------------------------------------------------------------------------- checking rows


def _parse_rows(t: _Table, rows: list[_Row], ctx, report: Report) -> None:
    """Every cell of ``rows``, as the full reader parses a column (same order of checks)."""
    mu = ctx.minor_units
    for spec in TABLES[t.table]:
        pos = t.positions.get(spec.name)
        if pos is None or not rows or spec.name in t.unusable:  # refused as a whole
            continue
        long = [r for r in rows if len(r.cells[pos - 1]) > cells.MAX_CELL_CHARS]
        for r in long:
            report.add(t.file, r.line, pos, spec.name,
                       cells.too_long_message(len(r.cells[pos - 1])), "too-long")
        if long:
            t.unusable.add(spec.name)
            continue
        for r in rows:
            _parse_cell(t.file, r, spec, pos, r.cells[pos - 1], ctx, mu, report)


def _parse_cell(file, row: _Row, spec, pos, text, ctx, mu, report: Report) -> None:
    kind = spec.kind
    if text == "":
        if not spec.nullable:
            report.add(file, row.line, pos, spec.name, cells.missing_message(spec.name),
                       "missing-value")
        row.values[spec.name] = None
        return
    value, problem = text, None
    if kind.startswith("enum:"):
        allowed, code, what = cells.vocabulary(kind, ctx)
        if text not in allowed:
            problem = (cells.enum_message(text, what, allowed), code)
    elif kind == MONEY:
        value = cells.money_cell(text, mu)
        if value is None:
            problem = (cells.money_message(text, mu), "bad-money")
    elif kind in (INT, COUNT):
        value = cells.int_cell(text, signed=kind == INT)
        if value is None:
            what = cells.INT_WHAT if kind == INT else cells.COUNT_WHAT
            problem = (cells.int_message(text, what), "bad-integer")
    elif kind == DATE:
        value = cells.date_cell(text)
        if value is None:
            problem = (cells.date_message(text), "bad-date")
    elif kind == BOOL:
        value = cells.bool_cell(text)
        if value is None:
            problem = (cells.bool_message(text), "bad-boolean")
    elif kind == STATUS:
        value = cells.status_cell(text)
        if value is None:
            problem = (cells.status_message(text), "unknown-status")
    if problem is not None:
        report.add(file, row.line, pos, spec.name, *problem)
        value = None
    else:
        row.valid.add(spec.name)
    row.values[spec.name] = value


def _duplicates(t: _Table, rows: list[_Row], report: Report) -> None:
    """Rows sharing a key, reported at every occurrence after the first (as the full
    reader does); ``rows`` are all rows of the file with one of the keys looked for."""
    if not t.complete:
        return
    key = TABLES[t.table][0].name
    pos = t.positions[key]
    first: dict[str, int] = {}
    for r in sorted(rows, key=lambda r: r.line):
        k = r.cells[pos - 1]
        if k in first:
            report.add(t.file, r.line, pos, key, cells.duplicate_message(key, k, first[k]),
                       "duplicate-id")
        first.setdefault(k, r.line)


def _row_checks(t: _Table, rows: list[_Row], report: Report, first: str, then: str) -> None:
    """``then`` before ``first`` (stop before start); SA status needing a stop date; the
    sign of amounts that cannot be negative (or zero)."""
    p = t.positions
    for r in rows:
        v = r.values
        if then in p and first in p and then not in t.unusable and first not in t.unusable:
            a, b = v.get(first), v.get(then)
            if a is not None and b is not None and b < a:
                report.add(t.file, r.line, p[then], then, cells.order_message(
                    first, then, a.isoformat(), b.isoformat()), "stop-before-start")
    if t.table == "service_agreements":
        usable = {"status", "stop_date"} <= set(p) and not {"status", "stop_date"} & t.unusable
        for r in rows:
            if usable and r.values.get("status") in cells.NEEDS_STOP and \
                    r.cells[p["stop_date"] - 1] == "":
                report.add(t.file, r.line, p["stop_date"], "stop_date",
                           cells.missing_stop_message(r.values["status"]), "missing-stop-date")
        _signs(t, rows, report, "total_deposit_amount", cells.TOTAL_DEPOSIT_RULE, True)
    else:
        _signs(t, rows, report, "amount", cells.NCD_AMOUNT_RULE, False)


def _signs(t: _Table, rows, report, column: str, rule: str, allow_zero: bool) -> None:
    pos = t.positions.get(column)
    if pos is None or column in t.unusable:
        return
    for r in rows:
        v = r.values.get(column)
        if column in r.valid and v is not None and (v < 0 if allow_zero else v <= 0):
            report.add(t.file, r.line, pos, column, cells.sign_message(r.cells[pos - 1], rule),
                       "out-of-range")


def _unknown(t: _Table, rows, column: str, target: _Table | None, known: set[str],
             code: str, report: Report) -> None:
    """``column`` of ``rows`` must name a key of ``target`` (checked when ``target`` loaded
    far enough to know its keys, as in the full reader)."""
    pos = t.positions.get(column)
    if target is None or not target.complete or pos is None or column in t.unusable:
        return
    for r in rows:
        value = r.cells[pos - 1]
        if value and value not in known:
            report.add(t.file, r.line, pos, column,
                       cells.reference_message(column, value, target.file), code)


# --------------------------------------------------------------------------- the account


def load_account(folder: Path | str, account_id: str, ctx, config, use_index: bool = True,
                 notes: list[str] | None = None):
    """The AccountState of ``account_id``, or None when the extract does not hold it.

    Raises :class:`ExtractError` listing the problems of the account's rows (and of the
    files), located as the full reader locates them.

    With ``use_index``, a CSV table that the folder's index (``csvindex.py``) describes
    and that has not changed since is read by seeking to the account's lines; the answer
    is the same. ``notes`` gets a sentence for an index that is out of date or cannot be
    used (the tables are then streamed)."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"extract folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; an extract is a folder of tables")
    report = Report()
    files = locate_tables(folder, report)
    missing = [t for t in REQUIRED_TABLES if t not in present_tables(folder)]
    if missing:
        names = " and ".join(f"{t}.csv (or .parquet)" for t in missing)
        raise InputError(f"extract folder {folder} has no {names}")
    account_id = account_id.strip()
    if not account_id:
        return None
    limits = (cells.max_rows(), max_bytes())
    index = _index(folder, files, notes) if use_index else None
    try:
        if index is not None:
            try:
                return _load(folder, account_id, ctx,
                             _tables(files, report, limits, ctx, index, notes), report)
            except IndexMismatch as exc:
                _note(notes, f"{exc}; reading the tables in full")
                report = Report()
                locate_tables(folder, report)  # the same problems of the folder again
        return _load(folder, account_id, ctx, _tables(files, report, limits, ctx), report)
    finally:
        if index is not None:
            index.close()


REFRESH = "deprules extract index {folder} writes it again"


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)


def _index(folder: Path, files: dict, notes: list[str] | None):
    """The folder's index when it has one and one of its CSV tables may use it."""
    if not any(tf.fmt == "csv" for tf in files.values()):
        return None
    from .csvindex import INDEX_NAME, IndexUnusable, open_index

    try:
        return open_index(folder)
    except IndexUnusable as exc:
        _note(notes, f"the index {folder / INDEX_NAME} cannot be used: {exc}; the CSV tables "
                     f"are read in full ({REFRESH.format(folder=folder)})")
        return None


def _tables(files: dict, report: Report, limits: tuple[int, int], ctx, index=None,
            notes: list[str] | None = None) -> dict:
    tables = {}
    for t, tf in files.items():
        if tf.fmt == "csv":
            tables[t] = _Table(tf, report, limits)
            if index is not None:
                from .csvindex import INDEX_NAME, IndexedTable, usable_entry

                entry, why = usable_entry(index, tf, limits)
                if entry is not None:
                    tables[t] = IndexedTable(tf, report, limits, index, entry)
                elif why:
                    _note(notes, f"the index {index.path.parent / INDEX_NAME} is out of date: "
                                 f"{why}; it is read in full "
                                 f"({REFRESH.format(folder=index.path.parent)})")
        else:
            from .rowgroups import ParquetTable  # pyarrow, only for a Parquet extract

            tables[t] = ParquetTable(tf, report, limits, ctx)
    return tables


def _load(folder: Path, account_id: str, ctx, tables: dict, report: Report):
    try:
        return _load_from(folder, account_id, ctx, tables, report)
    finally:
        for t in tables.values():
            t.close()


def _load_from(folder: Path, account_id: str, ctx, tables: dict, report: Report):
    me = {account_id}

    def search(table: str, column: str, wanted: set[str], first: bool = True) -> list[_Row]:
        t = tables.get(table)
        return t.search(column, wanted, first) if t is not None else []

    accounts = search("accounts", "account_id", me)
    sas = search("service_agreements", "account_id", me)
    ncds = search("non_cash_deposits", "account_id", me)
    sa_ids = _keys(tables.get("service_agreements"), sas)
    fts = search("financial_transactions", "sa_id", sa_ids)

    rows = {"accounts": accounts, "service_agreements": sas, "non_cash_deposits": ncds,
            "financial_transactions": fts}
    for table, kept in rows.items():
        if table in tables:
            _parse_rows(tables[table], kept, ctx, report)
    # keys shared with rows of other accounts: a second search for the account's keys
    for table, kept in rows.items():
        t = tables.get(table)
        if t is None:
            continue
        if table == "accounts":  # the key is the account id: every such row is kept
            _duplicates(t, kept, report)
        elif kept and t.complete:
            _duplicates(t, t.search(TABLES[table][0].name, _keys(t, kept), first=False), report)
    acc_table = tables.get("accounts")
    for table in ("service_agreements", "non_cash_deposits"):
        if table in tables:
            _unknown(tables[table], rows[table], "account_id", acc_table,
                     {account_id} if accounts else set(), "unknown-account", report)
    if "service_agreements" in tables:
        _row_checks(tables["service_agreements"], sas, report, "start_date", "stop_date")
    if "non_cash_deposits" in tables:
        _row_checks(tables["non_cash_deposits"], ncds, report, "start_date", "end_date")

    problems = report.problems()
    if problems:
        raise ExtractError(problems, what=str(folder))
    if not accounts:
        return None
    return _state(account_id, accounts[0], sas, ncds, fts, ctx)


def _keys(t: _Table | None, rows: list[_Row]) -> set[str]:
    if t is None or not rows:
        return set()
    key = TABLES[t.table][0].name
    pos = t.positions.get(key)
    return {r.cells[pos - 1] for r in rows if r.cells[pos - 1]} if pos else set()


def _state(account_id, a: _Row, sas, ncds, fts, ctx):
    from ..ledger.model import Account, AccountState, HistoryFT, NonCashDeposit, ServiceAgreement

    v = a.values
    state = AccountState(Account(v["account_id"], v["customer_class"], v["credit_rating"],
                                 v.get("late_payments_12m") or 0, bool(v.get("do_not_refund")),
                                 v.get("cc_postpone_date")))
    for r in sas:
        s = r.values
        is_dep = ctx.sa_types[s["sa_type"]].is_cash_deposit
        total = s.get("total_deposit_amount")
        if total is None:
            total = max(0, -s["payoff_balance"]) if is_dep else 0
        state.sas[s["sa_id"]] = ServiceAgreement(
            s["sa_id"], account_id, s["sa_type"], s["status"], s["start_date"],
            s.get("stop_date"), s["current_balance"], s["payoff_balance"], total,
            s.get("last_interest_date") or s["start_date"],
            opening_payoff=s["payoff_balance"], opening_current=s["current_balance"])
    for r in ncds:
        n = r.values
        state.ncds.append(NonCashDeposit(n["ncd_id"], account_id, n["deposit_class"],
                                         n["ncd_type"], n["amount"], n["start_date"],
                                         n.get("end_date")))
    for r in fts:
        f = r.values
        state.history.append(HistoryFT(f["ft_id"], account_id, f["sa_id"], f["date"],
                                       f["payoff_amount"], f["current_amount"]))
    return state
