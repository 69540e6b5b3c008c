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
