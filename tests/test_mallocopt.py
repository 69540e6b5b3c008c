"""``mallocopt.keep_freed_memory``: glibc's malloc keeps freed memory in the processes that
run simulations, unless the user tunes malloc; Dask's own nanny default is not the user's."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or not platform.libc_ver()[0]
                                == "glibc", reason="glibc's mallopt")

PROBE = ("from deprules.mallocopt import keep_freed_memory; "
         "print(keep_freed_memory(), keep_freed_memory())")


def probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env={**clean, "PYTHONPATH": str(ROOT / "src"), **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_set_once_in_a_plain_process():
    assert probe() == "True True"


def test_a_dask_nannys_default_is_overridden():
    # distributed.nanny.pre-spawn-environ gives every worker MALLOC_TRIM_THRESHOLD_=65536
    assert probe(MALLOC_TRIM_THRESHOLD_="65536") == "True True"


@pytest.mark.parametrize("name,value", [("MALLOC_TRIM_THRESHOLD_", "131072"),
                                        ("MALLOC_MMAP_THRESHOLD_", "1048576"),
                                        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")])
def test_the_users_own_malloc_settings_are_left_alone(name, value):
    assert probe(**{name: value}) == "False False"


def test_a_vector_store_batch_keeps_freed_memory_and_a_per_account_one_does_not(
        tmp_path, monkeypatch):
    """``run`` on the vector back end works in column arrays like a simulation; on the
    per-account engines it leaves malloc as it is."""
    from datetime import date

    from deprules import mallocopt
    from deprules.extract import generate
    from deprules.extract.writer import write_extract

    from test_store_vector import invoke

    calls = []
    monkeypatch.setattr(mallocopt, "keep_freed_memory", lambda: calls.append(1) or True)
    write_extract(generate.generate_extract(20, seed=3, as_of=date(2026, 11, 21)),
                  tmp_path / "x")
    store = tmp_path / "s.db"
    invoke("ledger", "init", "--extract", tmp_path / "x", "--store", store)
    invoke("run", "DEPRFND", "--store", store, "--date", "2026-11-21", "--engine", "python")
    assert calls == []
    invoke("run", "cycle", "--store", store, "--date", "2026-11-21")
    assert calls == [1]
