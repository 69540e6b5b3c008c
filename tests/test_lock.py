"""The set-up installs exactly the lock file: every pin is hashed, the lock satisfies
pyproject's ranges, and the environment running this suite holds the locked versions."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REQ = ROOT / "requirements"


def pins(path: Path) -> list[tuple[str, str, str | None, list[str]]]:
    """(name, version, marker, hashes) of every requirement in a uv/pip-tools lock file."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)\s*(?:;\s*(.*?))?\s*((?:--hash=\S+\s*)*)$", line)
        assert m, f"{path.name}: not an exact pin with hashes: {line[:120]}"
        name, version, marker, hashes = m.groups()
        out.append((canonicalize_name(name), version, marker, hashes.split()))
    return out


@pytest.mark.parametrize("lock", ["lock.txt", "build.txt", "tools.txt"])
def test_every_pin_is_exact_and_hashed(lock):
    found = pins(REQ / lock)
    assert found
    for name, version, _, hashes in found:
        assert hashes and all(h.startswith("--hash=sha256:") for h in hashes), name


def _applies(marker: str | None, minor: int) -> bool:
    env = {"python_version": f"3.{minor}", "python_full_version": f"3.{minor}.0",
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
           "platform_machine": "x86_64", "implementation_name": "cpython",
           "platform_python_implementation": "CPython", "extra": ""}
    return marker is None or Marker(marker).evaluate(env)


@pytest.mark.parametrize("minor", [11, 12])
def test_lock_satisfies_pyproject_on_each_supported_python(minor):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in project["optional-dependencies"].values()
               for r in extra]
    locked = {}
    for name, version, marker, _ in pins(REQ / "lock.txt"):
        if _applies(marker, minor):
            assert name not in locked, f"{name} pinned twice for Python 3.{minor}"
            locked[name] = version
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} (pyproject.toml) is not in requirements/lock.txt: make lock"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"requirements/lock.txt pins {name}=={locked[name]}, outside {req}: make lock")
    # the build tools are locked once: build.txt agrees with lock.txt
    for name, version, marker, _ in pins(REQ / "build.txt"):
        if _applies(marker, minor):
            assert locked.get(name) == version, f"{name}: build.txt and lock.txt disagree"


def test_this_environment_holds_the_locked_versions():
    """What `make test` installed is what the lock says (run outside .venv: skipped)."""
    if not (Path(sys.prefix) / ".installed").exists():
        pytest.skip("not the environment `make install` built (.venv/.installed is missing)")
    minor = sys.version_info.minor
    for name, version, marker, _ in pins(REQ / "lock.txt"):
        if not _applies(marker, minor):
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name}=={version} is locked but not installed")
        assert installed == version, f"{name}: installed {installed}, locked {version}"
