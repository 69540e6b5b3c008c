"""Hostile input: every case of ``tests/hostile/*.yaml`` must be refused cleanly.

One parametrised test runs the whole corpus. A case is a command line plus the files it
needs, and what a user must see: exit code 1 or 2, the expected substrings (a location
``FILE:LINE:COL`` or ``table:row:column`` and the reason code ``[code]``), and never a
Python traceback or an "internal error" (exit 3).

Every case starts from a fresh ``tmp_path`` holding copies of the shipped ``config/`` and
``rules/`` and the small, valid extract below (``extract/``); the command runs with
``tmp_path`` as the working directory, so the default ``--config config --rules rules``
are those copies. Case keys:

``id``          readable test id (``area/what``), unique
``note``        why the case exists (optional)
``args``        the command line after ``deprules``; ``{tmp}``, ``{config}``, ``{rules}``,
                ``{extract}`` and ``{store}`` are replaced by paths under ``tmp_path``
``setup``       ``[store]``: first create ``store/`` from the base extract (generation 1)
``files``       ``{relative path: spec}`` applied in order after the base is in place;
                spec keys: ``text`` (whole file), ``replace`` (``[[old, new], ...]``: the first
                ``old``, which must be there), ``append``, ``encoding`` (default utf-8; ``latin-1``
                writes "\\xff" as the byte 0xff), ``repeat`` (``{head, unit, times, tail}``),
                ``size_mb`` (pad to at least this many MB with a YAML comment), ``parquet``
                (``{column: {type, values}}``: a Parquet file; the CSV of the same table is
                removed), ``delete``, ``mkdir``, ``symlink`` (a symbolic link to this target, which
                may be missing or a device like ``/dev/zero``; placeholders are filled), ``fifo``
                (a named pipe)
``env``         environment variables for the command
``exit``        1 or 2; 0 only for the few hostile-looking inputs that are valid and must
                load (a CSV with a byte order mark, CRLF line ends, a negative credit rating)
``expect``      substrings that must all be in the output
``absent``      substrings that must not be in the output
``subprocess``  run ``python cli.py`` in a child process (for a segfault-prone or huge
                input); it must end within a generous hang guard (no timing assertion:
                the suite runs on loaded machines)
``store_generation``  the generation ``store/`` must still be at afterwards
``requires``    ``test-command``: skip unless ``deprules test --help`` works
``xfail``       a known gap in code this suite's owner may not change: the reason names the
                module and its owner fixes it (non-strict, so the fix does not break the run)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from deprules.cli import cli

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "hostile"

CASE_KEYS = {"id", "note", "args", "setup", "files", "env", "exit", "expect", "absent",
             "subprocess", "store_generation", "requires", "xfail"}
SPEC_KEYS = {"text", "replace", "append", "encoding", "repeat", "size_mb", "parquet", "delete",
             "mkdir", "symlink", "fifo"}

BASE_EXTRACT = {
    "accounts.csv": (
        "account_id,customer_class,credit_rating,late_payments_12m,do_not_refund,"
        "cc_postpone_date\n"
        "A1,RES,500,0,false,\n"
        "A2,COM,100,1,false,\n"
    ),
    "service_agreements.csv": (
        "sa_id,account_id,sa_type,status,start_date,stop_date,current_balance,payoff_balance,"
        "total_deposit_amount,last_interest_date\n"
        "S1,A1,DEP-RES,active,2024-01-01,,0.00,-100.00,100.00,\n"
        "S2,A1,E-RES,active,2024-01-01,,60.00,60.00,,\n"
        "S3,A2,DEP-COM,active,2023-01-01,,0.00,-500.00,,\n"
    ),
    "non_cash_deposits.csv": (
        "ncd_id,account_id,deposit_class,ncd_type,amount,start_date,end_date\n"
        "N1,A2,COM,surety_bond,1000.00,2025-01-01,\n"
    ),
    "financial_transactions.csv": (
        "ft_id,sa_id,date,payoff_amount,current_amount\n"
        "F1,S1,2024-01-01,-100.00,0.00\n"
    ),
}


def _load_cases() -> list[dict]:
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            case["_source"] = path.name
            cases.append(case)
    return cases


CASES = _load_cases()


def test_corpus_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 100, f"the corpus has {len(ids)} cases; it should have at least 100"
    assert len(set(ids)) == len(ids), sorted({i for i in ids if ids.count(i) > 1})
    for c in CASES:
        assert set(c) - {"_source"} <= CASE_KEYS, (c["id"], set(c) - CASE_KEYS)
        assert c["exit"] in (0, 1, 2), c["id"]
        assert c["exit"] or c.get("note"), f"{c['id']}: say why this input must load"
        assert c["expect"], f"{c['id']}: a case must say what the user sees"
        for spec in (c.get("files") or {}).values():
            assert set(spec) <= SPEC_KEYS, (c["id"], set(spec) - SPEC_KEYS)


# ----------------------------------------------------------------------------- set-up


def _base(tmp: Path) -> None:
    shutil.copytree(ROOT / "config", tmp / "config")
    shutil.copytree(ROOT / "rules", tmp / "rules")
    (tmp / "extract").mkdir()
    for name, text in BASE_EXTRACT.items():
        (tmp / "extract" / name).write_text(text, encoding="utf-8")


_STORE_TEMPLATE: list[Path] = []


def _make_store(tmp: Path, factory) -> None:
    """The store file ``store`` at generation 1 from the base extract (built once, then copied)."""
    if not _STORE_TEMPLATE:
        from deprules.storeops import init_store
        from deprules.workspace import load_setup

        template = factory.mktemp("hostile-store")
        _base(template)
        init_store(template / "store", template / "extract",
                   load_setup(template / "config", template / "rules"), "test")
        _STORE_TEMPLATE.append(template / "store")
    shutil.copyfile(_STORE_TEMPLATE[0], tmp / "store")


def _write_parquet(path: Path, columns: dict) -> None:
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    for name, col in columns.items():
        kind, values = col["type"], col["values"]
        if kind.startswith("decimal"):
            precision, scale = (int(x) for x in kind[len("decimal("):-1].split(","))
            values = [None if v is None else decimal.Decimal(str(v)) for v in values]
            arrays[name] = pa.array(values, pa.decimal128(precision, scale))
        elif kind == "date32":
            arrays[name] = pa.array(values, pa.int32()).cast(pa.date32())
        elif kind.startswith("timestamp"):
            arrays[name] = pa.array(values, pa.int64()).cast(pa.timestamp(kind.split(":")[1]))
        elif kind == "dictionary":
            arrays[name] = pa.array(values).dictionary_encode()
        else:
            arrays[name] = pa.array(values, getattr(pa, kind)())
    pq.write_table(pa.table(arrays), path)
    csv = path.with_suffix(".csv")
    if csv.exists():
        csv.unlink()


def _apply(tmp: Path, rel: str, spec: dict) -> None:
    path = tmp / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.get("delete"):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        return
    if spec.get("mkdir"):
        if path.exists():
            path.unlink()
        path.mkdir()
        return
    if "symlink" in spec or spec.get("fifo"):
        if path.exists() or path.is_symlink():
            path.unlink()
        if spec.get("fifo"):
            os.mkfifo(path)
        else:
            path.symlink_to(_fill(spec["symlink"], tmp))
        return
    if "parquet" in spec:
        _write_parquet(path, spec["parquet"])
        return
    encoding = spec.get("encoding", "utf-8")
    if "text" in spec:
        text = spec["text"]
    elif "repeat" in spec:
        r = spec["repeat"]
        text = r.get("head", "") + r["unit"] * r["times"] + r.get("tail", "")
    else:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    for old, new in spec.get("replace", []):
        assert old in text, f"{rel}: {old!r} is not in the file"
        text = text.replace(old, new, 1)
    text += spec.get("append", "")
    path.write_bytes(text.encode(encoding))
    if "size_mb" in spec:  # padding written in blocks: a 100 MB file without 100 MB in memory
        block = ("#" + "x" * 1022 + "\n") * 1024
        with path.open("a", encoding="utf-8") as f:
            for _ in range(int(spec["size_mb"])):
                f.write(block)


def _fill(arg, tmp: Path) -> str:
    return str(arg).format(tmp=tmp, config=tmp / "config", rules=tmp / "rules",
                           extract=tmp / "extract", store=tmp / "store")


_HAS_TEST_COMMAND: list[bool] = []


def _has_test_command() -> bool:
    if not _HAS_TEST_COMMAND:
        r = CliRunner().invoke(cli, ["test", "--help"])
        _HAS_TEST_COMMAND.append(r.exit_code == 0)
    return _HAS_TEST_COMMAND[0]


# ----------------------------------------------------------------------------- the test


def _params():
    for c in CASES:
        marks = [pytest.mark.xfail(reason=c["xfail"], strict=False)] if c.get("xfail") else []
        yield pytest.param(c, id=c["id"], marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_hostile_input_is_refused_cleanly(case, tmp_path, tmp_path_factory, monkeypatch):
    if case.get("requires") == "test-command" and not _has_test_command():
        pytest.skip("`deprules test` is not available yet")
    _base(tmp_path)
    if "store" in (case.get("setup") or []):
        _make_store(tmp_path, tmp_path_factory)
    for rel, spec in (case.get("files") or {}).items():
        _apply(tmp_path, _fill(rel, tmp_path), spec)
    args = [_fill(a, tmp_path) for a in case["args"]]
    env = {k: str(v) for k, v in (case.get("env") or {}).items()}
    monkeypatch.chdir(tmp_path)

    if case.get("subprocess"):
        proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=tmp_path,
                              env={**os.environ, **env, "PYTHONPATH": str(ROOT / "src")},
                              capture_output=True, text=True, timeout=120)
        output, code = proc.stdout + proc.stderr, proc.returncode
    else:
        # catch_exceptions=False: an exception escaping the CLI fails the test with it
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        output, code = result.output, result.exit_code

    shown = output if len(output) < 4000 else output[:2000] + "\n...\n" + output[-2000:]
    assert "Traceback" not in output, shown
    assert "internal error" not in output, shown
    assert code == case["exit"], f"exit {code}, expected {case['exit']}:\n{shown}"
    for want in case["expect"]:
        assert _fill(want, tmp_path) in output, f"{want!r} not in:\n{shown}"
    for unwanted in case.get("absent") or []:
        assert _fill(unwanted, tmp_path) not in output, f"{unwanted!r} in:\n{shown}"
    if "store_generation" in case:
        from deprules.ledger.sqlstore import Store

        assert Store.open(tmp_path / "store").generation() == case["store_generation"]
