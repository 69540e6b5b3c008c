"""simulate --out: totals beyond an extract's 16 digits are rendered exactly, and the four
files are written all or none (a failure at any step leaves the folder as it was)."""

from __future__ import annotations

import errno
import json
import random
from datetime import date

import pytest

from helpers import acct, sa, write_extract

from deprules.money import MoneyFormatError, format_money, parse_total
from deprules.simulate import files as out_files
from deprules.simulate import simulate
from deprules.simulate.report_html import render_html

AS_OF = date(2026, 11, 21)
BIG = "9999999999999999.99"  # the largest amount an extract may hold (cents)
OUT_FILES = ["accounts.csv", "accounts.parquet", "impact.json", "report.html"]


def test_parse_total_is_exact_at_any_size():
    rng = random.Random(7)
    for _ in range(500):
        value = rng.randint(-10**40, 10**40)
        for mu in (0, 2, 3):
            assert parse_total(format_money(value, mu), mu) == value
    assert parse_total("30001479452054794.50") == 3000147945205479450
    assert parse_total("-0.5") == -50
    assert parse_total("+7") == 700
    for bad in ("1.234", "1e3", "", "1,000.00", "\u0661", "- 5", "NaN"):
        with pytest.raises(MoneyFormatError):
            parse_total(bad)


@pytest.fixture(scope="module")
def big(root, tmp_path_factory):
    """Three accounts each refunded an extract's largest deposit: totals of 17 digits."""
    folder = write_extract(
        tmp_path_factory.mktemp("big") / "extract",
        [acct(f"A{i}", credit_rating=900) for i in (1, 2, 3)],
        [sa(f"S{i}", "DEP-RES", start="2020-01-01", payoff=f"-{BIG}", account_id=f"A{i}",
            total_deposit_amount=BIG, last_interest_date="2026-11-01") for i in (1, 2, 3)])
    return simulate(folder, AS_OF, config_dir=root / "config", rules_dir=root / "rules",
                    sets=["deposit_classes.RES.refund_criteria.hold_months=18"], horizon=2)


def test_report_renders_totals_beyond_16_digits_exactly(big):
    refunds = big.impact["money"]["refund_checks"]["baseline"]
    assert len(refunds.split(".")[0]) > 16
    html = render_html(big.impact, big.source)
    whole, frac = refunds.split(".")
    assert f"{int(whole):,}.{frac}" in html
    assert "30,001,479,452,054,794.50" in big.text()


def _old_folder(path):
    path.mkdir()
    for name in OUT_FILES:
        (path / name).write_text(f"old {name}\n")
    (path / "notes.txt").write_text("mine\n")
    return {p.name: p.read_bytes() for p in path.iterdir()}


@pytest.mark.parametrize("step", ["accounts_csv_chunks", "accounts_table", "json", "render_html",
                                  "disk-full-1", "disk-full-3", "disk-full-4", "rename-2"])
def test_a_failure_at_any_step_leaves_the_folder_as_it_was(big, tmp_path, monkeypatch, step):
    calls: list[int] = []  # calls of the failing function so far, per attempt

    def boom(*_a, **_k):
        raise RuntimeError(f"failed at {step}")

    if step in ("accounts_csv_chunks", "accounts_table", "render_html"):
        monkeypatch.setattr(out_files, step, boom)
    elif step == "json":
        monkeypatch.setattr(type(big), "json", boom)
    else:
        kind, n = step.rsplit("-", 1)
        real = out_files._write_synced if kind == "disk-full" else out_files.os.replace

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) == int(n):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args, **kwargs)

        if kind == "disk-full":
            monkeypatch.setattr(out_files, "_write_synced", failing)
        else:
            monkeypatch.setattr(out_files.os, "replace", failing)
    before = _old_folder(tmp_path / "out")
    with pytest.raises((RuntimeError, OSError)):
        big.write(tmp_path / "out")
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    if step == "rename-2":  # a rename failing half way: renames are not undone, but the
        assert set(after) == set(before)  # folder holds no temporary file and no half file
        assert after["accounts.csv"] != before["accounts.csv"]
        assert after["impact.json"] == before["impact.json"]
    else:
        assert after == before
    if step == "rename-2":
        return
    # and into a folder that did not exist: it is not left behind
    calls.clear()
    with pytest.raises((RuntimeError, OSError)):
        big.write(tmp_path / "new" / "out")
    assert not (tmp_path / "new" / "out").exists()


def test_all_four_files_are_written_and_replace_the_old_ones(big, tmp_path):
    _old_folder(tmp_path / "out")
    written = big.write(tmp_path / "out")
    assert [p.name for p in written] == OUT_FILES
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(OUT_FILES + ["notes.txt"])
    impact = json.loads((tmp_path / "out" / "impact.json").read_text())
    assert impact["money"]["refund_checks"]["baseline"] == "30001479452054794.50"
    assert "30,001,479,452,054,794.50" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.parametrize("kw", [{"overlays": "whatif"}, {}], ids=["whatif", "baseline"])
def test_files_written_a_slice_of_rows_at_a_time_are_the_files_written_at_once(root, kw):
    """Issue 18: accounts.csv and accounts.parquet are built ``ROWS`` rows at a time (10
    million accounts never as one text); in slices of 7 rows they are byte for byte what
    one pass writes (the CSV) and what ``pq.write_table`` writes with row groups of 7."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kw.get("overlays") == "whatif":
        kw = {"overlays": [root / "examples" / "whatif"]}
    result = simulate(root / "examples" / "extract", AS_OF, config_dir=root / "config",
                      rules_dir=root / "rules", **kw)
    whole = out_files.accounts_table(result)

    def parquet(table, **kw) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **kw)
        return sink.getvalue().to_pybytes()

    assert b"".join(out_files.accounts_parquet_chunks(result)) == parquet(whole)
    assert (b"".join(out_files.accounts_parquet_chunks(result, rows=7))
            == parquet(whole, row_group_size=7))
    one = out_files.accounts_csv(result)
    assert b"".join(out_files.accounts_csv_chunks(result, rows=7)) == one
    assert one == out_files.accounts_csv_rows(result)
    assert out_files.ROWS == 1024 * 1024  # pq.write_table's default row group
