"""The command-line conventions of docs/cli.md: `-` for stdin/stdout, --format, folders,
environment variables in --help, shell completion, and which commands take --config/--rules.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from helpers import acct, sa, write_extract

from deprules.cli import cli
from deprules.ledger.sqlstore import Store

ON = "2026-11-21"
BIN = Path(sys.executable).parent
DEPRULES = BIN / "deprules"


@pytest.fixture()
def run(root, monkeypatch):
    monkeypatch.chdir(root)
    monkeypatch.setenv("DEPRULES_USER", "csr1")
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


def commands(group=cli, prefix=()):
    """(path, command) of every leaf command."""
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


# ---- - is standard input ---------------------------------------------------------------------------
def test_whatif_from_stdin_on_config_show_and_simulate(run):
    overlay = "deposit_classes:\n  RES:\n    refund_criteria:\n      hold_months: 18\n"
    r = run("config", "show", "--whatif", "-", "--format", "json", input=overlay)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["config"]["deposit_classes"]["deposit_classes"]["RES"][
        "refund_criteria"]["hold_months"] == 18
    r = run("simulate", "--extract", "examples/extract", "--as-of", ON, "--whatif", "-",
            "--format", "json", input=overlay)
    assert r.exit_code == 0, r.output
    changes = json.loads(r.stdout)["candidate"]["changes"]
    assert changes == [{"path": "deposit_classes.RES.refund_criteria.hold_months",
                        "baseline": 12, "candidate": 18}]


def test_yaml_from_stdin_keeps_located_errors(run):
    r = run("config", "show", "--whatif", "-",
            input="deposit_classes:\n  RES:\n    refund_criteria:\n      hold_months: x\n")
    assert r.exit_code == 1
    assert re.search(r"^<stdin>:4:20: \$\.deposit_classes\.RES\.refund_criteria\.hold_months:",
                     r.stderr, re.M), r.stderr
    r = run("simulate", "--extract", "examples/extract", "--as-of", ON, "--whatif", "-",
            input="deposit_classes: [\n")
    assert r.exit_code == 1 and "<stdin>:2:1: YAML syntax error" in r.stderr, r.stderr
    r = run("test", "-", input="scenarios:\n  - name: x\n    bogus: 1\n")
    assert r.exit_code == 1 and "<stdin>:3:5: $.scenarios[0].bogus: unknown key" in r.stderr


def test_stdin_can_be_read_once(run):
    r = run("config", "show", "--whatif", "-", "--whatif", "-", input="{}\n")
    assert r.exit_code == 2 and "can be given only once" in r.stderr
    r = run("test", "-", "-", input="{}\n")
    assert r.exit_code == 2 and "only once" in r.stderr


def test_pack_captured_to_stdout_runs_from_stdin(run, tmp_path):
    extract = write_extract(tmp_path / "x", [acct()], [
        sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00")])
    r = run("pack", "capture", "A1", "--extract", extract, "--as-of", ON, "--out", "-")
    assert r.exit_code == 0, r.output
    assert r.stdout.lstrip().startswith("#") and "scenarios:" in r.stdout
    assert "1 scenario(s) to standard output" in r.stderr
    assert not Path("-").exists()
    again = run("test", "-", input=r.stdout)
    assert again.exit_code == 0, again.output
    assert "1 passed" in again.stdout
    # --update cannot rewrite standard input; --format json cannot share stdout with the pack
    assert run("test", "-", "--update", input=r.stdout).exit_code == 2
    r = run("pack", "capture", "A1", "--extract", extract, "--as-of", ON, "--out", "-",
            "--format", "json")
    assert r.exit_code == 2 and "--out - writes to standard output" in r.stderr


@pytest.fixture()
def store(run, tmp_path):
    path = tmp_path / "store"
    assert run("ledger", "init", "--extract", "examples/extract", "--store", path).exit_code == 0
    assert run("run", "cycle", "--store", path, "--date", ON).exit_code == 0
    return path


def requested(run, store) -> int:
    r = run("ap", "list", "--status", "requested", "--store", store, "--format", "json")
    return len(json.loads(r.stdout)["check_requests"])


def test_ap_export_to_stdout_then_paid_from_stdin(run, store):
    gen = Store.open(store).generation()
    r = run("ap", "export", "--out", "-", "--store", store, "--date", ON)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 97 and rows[0]["request_id"] == "A0000004-CHK001"
    assert "exported 97 check request(s)" in r.stderr and "standard output" in r.stderr
    assert requested(run, store) == 97 and Store.open(store).generation() == gen + 1
    assert not Path("-").exists()
    paid = run("ap", "paid", "-", "--store", store, "--date", ON, "--format", "json",
               input=r.stdout)
    assert paid.exit_code == 0, paid.output
    assert json.loads(paid.stdout)["paid"] == 97 and json.loads(paid.stdout)["file"] == "-"
    # paying again names the line of standard input
    again = run("ap", "paid", "-", "--store", store, "--date", ON, input=r.stdout)
    assert again.exit_code == 2 and "<stdin>:2: check request A0000004-CHK001 is paid" in \
        again.stderr


def test_ap_export_marks_nothing_when_stdout_fails(store):
    """Requests are marked requested only after the file is all written and flushed."""
    gen = Store.open(store).generation()
    with open("/dev/full", "w") as full:
        proc = subprocess.run([str(DEPRULES), "ap", "export", "--out", "-", "--store",
                               str(store), "--date", ON], stdout=full, stderr=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2, proc.stderr
    assert "no check request was marked requested" in proc.stderr
    assert Store.open(store).generation() == gen


def test_ap_export_to_stdout_refuses_json(run, store):
    gen = Store.open(store).generation()
    r = run("ap", "export", "--out", "-", "--store", store, "--format", "json")
    assert r.exit_code == 2 and "--out - writes to standard output" in r.stderr
    assert Store.open(store).generation() == gen and requested(run, store) == 0


# ---- folders cannot be - ------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("validate", "--config", "-"),
    ("validate", "--rules", "-"),
    ("extract", "check", "-"),
    ("extract", "generate", "--accounts", "1", "--out", "-"),
    ("evaluate", "A1", "--extract", "-", "--as-of", ON),
    ("simulate", "--extract", "examples/extract", "--as-of", ON, "--out", "-"),
    ("ledger", "export", "--store", "s", "--out", "-"),
    ("schema", "export", "-"),
], ids=lambda a: " ".join(a[:2]))
def test_a_folder_cannot_be_dash(run, args):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert "'-' (standard input or output) cannot be a folder" in r.stderr
    assert not Path("-").exists()


def test_the_store_cannot_be_dash(run):
    """The store is a database file other processes open too: never standard input."""
    r = run("ledger", "show", "A1", "--store", "-")
    assert r.exit_code == 2, r.output
    assert "'-' (standard input or output) cannot be a store" in r.stderr
    assert not Path("-").exists()


def test_every_path_option_says_what_dash_does():
    """A file option or argument takes -; a folder (or the store) refuses it."""
    from deprules.cli.common import FolderPath, StorePath

    for path, cmd in commands():
        for p in cmd.params:
            if isinstance(p.type, click.Path):
                assert isinstance(p.type, (FolderPath, StorePath)) or p.type.allow_dash, (
                    f"{' '.join(path)} {p.name}: a file path that does not take -")


# ---- --format ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("extract", "generate", "--accounts", "1", "--out", "x", "--format", "parquet"),
    ("ledger", "export", "--store", "s", "--out", "x", "--format", "csv"),
])
def test_old_format_spelling_points_to_file_format(run, args):
    r = run(*args)
    assert r.exit_code == 2
    assert "--format is the output format, text or json; the file format is --file-format" in \
        r.stderr


def test_extract_generate_file_format(run, tmp_path):
    r = run("extract", "generate", "--accounts", "3", "--out", tmp_path / "g", "--file-format",
            "parquet")
    assert r.exit_code == 0 and "(parquet)" in r.output
    assert (tmp_path / "g" / "accounts.parquet").exists()


def test_every_format_option_is_text_or_json():
    for path, cmd in commands():
        for p in cmd.params:
            if p.name == "fmt":
                assert p.opts == ["--format"] and list(p.type.choices) == ["text", "json"], path
            if "--format" in getattr(p, "opts", []):
                assert p.name == "fmt", path


# ---- environment variables --------------------------------------------------------------------------------
def test_every_environment_variable_read_is_in_the_help(root, run):
    names = set()
    for f in (root / "src" / "deprules").rglob("*.py"):
        names |= set(re.findall(r"\bDEPRULES_[A-Z_]+\b", f.read_text()))
    names = {n.rstrip("_") for n in names}
    assert {"DEPRULES_USER", "DEPRULES_DEBUG", "DEPRULES_EXTRACT_MAX_ROWS",
            "DEPRULES_YAML_MAX_BYTES"} <= names
    top = run("--help").output
    for name in sorted(names):
        assert name in top, f"{name} is not in `deprules --help`"
    # an option that reads one shows it in its command's --help
    assert "env var: DEPRULES_CONFIG" in run("validate", "--help").output
    shown = " ".join(run("refund", "partial", "--help").output.split())
    for name in ("DEPRULES_STORE", "DEPRULES_USER", "DEPRULES_CONFIG", "DEPRULES_RULES"):
        assert f"env var: {name}" in shown, name


# ---- shell completion ---------------------------------------------------------------------------------------
def _env(**kw):
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **kw}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_is_printed(shell):
    proc = subprocess.run([str(DEPRULES)], env=_env(_DEPRULES_COMPLETE=f"{shell}_source"),
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "_DEPRULES_COMPLETE" in proc.stdout, proc.stderr


def test_bash_completes_commands_options_and_choices():
    script = textwrap.dedent("""\
        eval "$(_DEPRULES_COMPLETE=bash_source deprules)"
        complete_words() { COMPREPLY=(); COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
                           _deprules_completion deprules; echo "${COMPREPLY[*]}"; }
        complete_words deprules led
        complete_words deprules ledger export --file-format ""
        complete_words deprules run ""
        """)
    proc = subprocess.run(["bash", "-c", script], env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["ledger", "csv parquet",
                                        "depintrf deprfnd saact stop billing wpm cycle adtimeout"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_loads():
    script = ('autoload -Uz compinit && compinit -u; '
              'eval "$(_DEPRULES_COMPLETE=zsh_source deprules)"; '
              'print -r -- ${_comps[deprules]}')
    proc = subprocess.run(["zsh", "-f", "-c", script], env=_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "_deprules_completion", proc.stderr
    # what the function asks deprules for
    proc = subprocess.run([str(DEPRULES)], env=_env(_DEPRULES_COMPLETE="zsh_complete",
                                                    COMP_WORDS="deprules led", COMP_CWORD="1"),
                          capture_output=True, text=True)
    assert proc.stdout.splitlines()[:2] == ["plain", "ledger"], proc.stdout


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_commands():
    script = ('_DEPRULES_COMPLETE=fish_source deprules | source; '
              'complete -C "deprules led"')
    proc = subprocess.run(["fish", "--no-config", "-c", script], env=_env(),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "ledger", proc.stdout


# ---- --config and --rules ----------------------------------------------------------------------------------
# the commands that read neither the configuration nor the rules, and so do not take them
NO_SETUP = {("schema", "export"), ("rules", "vocabulary"), ("extract", "generate"),
            ("extract", "index"), ("ledger", "journal"), ("token", "add"), ("token", "list"), ("token", "remove")}


def test_config_and_rules_on_every_command_that_reads_them():
    for path, cmd in commands():
        names = {p.name for p in cmd.params}
        if path in NO_SETUP:
            assert not names & {"config_dir", "rules_dir"}, path
        else:
            assert {"config_dir", "rules_dir"} <= names, f"{' '.join(path)} lacks --config"


def test_format_json_on_every_command():
    for path, cmd in commands():
        assert "fmt" in {p.name for p in cmd.params}, f"{' '.join(path)} has no --format"


def test_commands_without_config_refuse_it(run, tmp_path):
    r = run("rules", "vocabulary", "--config", "config")
    assert r.exit_code == 2 and "No such option '--config'" in r.stderr
