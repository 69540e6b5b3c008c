# Set-up: `make demo` and `make test` create .venv and install exactly the versions in
# requirements/*.txt (every file checked against its hash), then run.
#
# Python: the first of python3.11, python3.12, python3 found, which must be 3.11 or 3.12;
# choose one with `make test PY=python3.12`.
# (a candidate that is found but does not run, like a pyenv shim of another version, is skipped)
PY_OK := import sys; sys.exit(0 if sys.version_info[:2] in ((3, 11), (3, 12)) else 1)
PY ?= $(firstword $(foreach p,python3.11 python3.12 python3,$(shell $(p) -c '$(PY_OK)' >/dev/null 2>&1 && command -v $(p))))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCKS := requirements/build.txt requirements/lock.txt
# pip must take every version from the lock, and build durable-rules (an sdist) with the
# locked setuptools rather than whatever an isolated build would download
PIP := $(BIN)/python -m pip --disable-pip-version-check
PIP_LOCKED := $(PIP) install --quiet --require-hashes --no-build-isolation

.PHONY: demo test install lock clean bench

$(BIN)/python:
	@test -n "$(PY)" || { echo "Python 3.11 or 3.12 is required (none of python3.11, python3.12, python3 runs one; set PY=...)"; exit 2; }
	@$(PY) -c '$(PY_OK)' || \
	  { echo "Python 3.11 or 3.12 is required; $(PY) is $$($(PY) --version 2>&1) (set PY=...)"; exit 2; }
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml $(LOCKS)
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/build.txt
	$(PIP_LOCKED) -r requirements/lock.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/deprules validate
	$(BIN)/deprules simulate --extract examples/extract --as-of 2026-11-21 --whatif examples/whatif --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Re-resolve the lock files from pyproject.toml and requirements/*.in after changing a
# dependency: versions already locked are kept where they still fit. `make lock UPGRADE=1`
# takes the newest releases the ranges allow. Needs the network; review the diff.
UV_COMPILE = $(VENV)/tools/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock:
	test -x $(VENV)/tools/bin/uv || { $(PY) -m venv $(VENV)/tools && \
	  $(VENV)/tools/bin/python -m pip install --quiet --require-hashes -r requirements/tools.txt; }
	cd requirements && ../$(UV_COMPILE) ../pyproject.toml build.in --all-extras -o lock.txt
	cd requirements && ../$(UV_COMPILE) build.in -c lock.txt -o build.txt
	cd requirements && ../$(UV_COMPILE) tools.in -o tools.txt
	@echo "locked: $$(grep -cE '^[a-z]' requirements/lock.txt) packages in requirements/lock.txt; run make test"

clean:
	rm -rf $(VENV) out build src/*.egg-info
