"""Options shared by commands, output helpers, and error reporting."""

from __future__ import annotations

import json
import sys
from datetime import date
from functools import wraps
from pathlib import Path

import click

from ..dates import DateParam
from ..errors import DeprulesError, ProblemsError

# A process date outside these years is a typo, and the ledger stores dates as
# datetime64[ns] (years 1677 to 2262): a due date or journal entry there would not fit.
PROCESS_DATE_MIN, PROCESS_DATE_MAX = date(1900, 1, 1), date(2199, 12, 31)


class ProcessDateParam(DateParam):
    """An ISO date between PROCESS_DATE_MIN and PROCESS_DATE_MAX."""

    def convert(self, value, param, ctx):
        d = super().convert(value, param, ctx)
        if not PROCESS_DATE_MIN <= d <= PROCESS_DATE_MAX:
            self.fail(f"{d.isoformat()} is outside the process dates deprules accepts "
                      f"({PROCESS_DATE_MIN.isoformat()} to {PROCESS_DATE_MAX.isoformat()})",
                      param, ctx)
        return d


PROCESS_DATE = ProcessDateParam()


# Every JSON document deprules prints carries this (impact.json carries its own, also 1).
# It changes only when a key changes meaning or goes away; new keys may appear at any time.
SCHEMA_VERSION = 1


class FolderPath(click.Path):
    """A folder (read or written): ``-`` (standard input or output) cannot be one."""

    def convert(self, value, param, ctx):
        if str(value) == "-":
            self.fail("'-' (standard input or output) cannot be a folder here; give a folder "
                      "path", param, ctx)
        return super().convert(value, param, ctx)

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="dir")]


FOLDER = FolderPath(path_type=Path)


class StorePath(click.Path):
    """The ledger store's database file: several processes open it, so ``-`` cannot be one."""

    def convert(self, value, param, ctx):
        if str(value) == "-":
            self.fail("'-' (standard input or output) cannot be a store; give the store's "
                      "database file", param, ctx)
        return super().convert(value, param, ctx)


STORE_FILE = StorePath(path_type=Path)
# a file read or written; "-" is standard input or output (Path("-"))
FILE_OR_DASH = click.Path(path_type=Path, allow_dash=True)


def is_dash(path) -> bool:
    """True for the ``-`` that names standard input or output."""
    return path is not None and str(path) == "-"


def setup_options(f):
    """--config and --rules, on every command that reads the configuration or the rules."""
    f = click.option("--rules", "rules_dir", type=FOLDER, default="rules",
                     show_default=True, envvar="DEPRULES_RULES", show_envvar=True,
                     help="Folder of rule files (*.yaml).")(f)
    f = click.option("--config", "config_dir", type=FOLDER,
                     default="config", show_default=True, envvar="DEPRULES_CONFIG",
                     show_envvar=True, help="Configuration folder.")(f)
    return f


class OutputFormat(click.Choice):
    """--format: the output format, text or json. A file format given to it (the old
    ``--format parquet`` of extract generate and ledger export) is refused with a pointer to
    --file-format."""

    def __init__(self, file_format_option: str | None = None):
        super().__init__(["text", "json"])
        self.file_format_option = file_format_option

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.lower() in ("csv", "parquet"):
            hint = (f"; the file format is {self.file_format_option} {value.lower()}"
                    if self.file_format_option else "")
            self.fail(f"--format is the output format, text or json{hint}", param, ctx)
        return super().convert(value, param, ctx)


def format_option(f=None, *, file_format: str | None = None):
    """--format text|json (``file_format``: the command's file-format option, named in the
    message when a file format is given to --format)."""

    def deco(g):
        return click.option("--format", "fmt", type=OutputFormat(file_format), default="text",
                            show_default=True,
                            help="text, or json: one document with a schema_version "
                                 "(docs/json-output.md).")(g)

    return deco(f) if f is not None else deco


def file_format_option(f):
    return click.option("--file-format", "file_format", type=click.Choice(["csv", "parquet"]),
                        default="csv", show_default=True,
                        help="Format of the table files written.")(f)


def binary_stdout():
    """Standard output as a binary stream (a file written to ``-``)."""
    return getattr(sys.stdout, "buffer", sys.stdout)


def one_document_on_stdout(fmt: str, option: str) -> None:
    """``OPTION -`` puts a file on standard output: no JSON document can go there too."""
    if fmt == "json":
        raise click.UsageError(f"{option} - writes to standard output, where --format json "
                               f"would print its document too; give {option} a file name, or "
                               "drop --format json")


def dash_at_most_once(ctx, param, value):
    """Standard input can be read once: refuse a second ``-``."""
    if value and sum(1 for v in value if is_dash(v)) > 1:
        raise click.BadParameter("'-' (standard input) can be given only once", ctx, param)
    return value


def whatif_option(help: str, metavar: str = "FILE_OR_DIR"):
    return click.option("--whatif", "overlays", multiple=True, type=FILE_OR_DASH,
                        metavar=metavar, callback=dash_at_most_once, help=help)


# how long a writer waits for another writer to finish (seconds; --wait, $DEPRULES_WAIT)
STORE_WAIT = 5.0


def _remember_wait(ctx, param, value):
    ctx.meta["deprules.wait"] = value
    return value


def store_wait() -> float:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("deprules.wait", STORE_WAIT) if ctx is not None else STORE_WAIT


def who_options(f):
    from ..users import default_user

    f = click.option("--wait", type=click.FloatRange(0), default=STORE_WAIT, show_default=True,
                     envvar="DEPRULES_WAIT", expose_value=False, callback=_remember_wait,
                     help="Seconds to wait for another writer of the store to finish.")(f)
    f = click.option("--reason", default="", help="Why (kept in the journal).")(f)
    f = click.option("--by", "who", default=default_user, show_default="login name",
                     envvar="DEPRULES_USER", show_envvar=True,
                     help="Who is doing this (kept in the journal).")(f)
    return f


def store_option(f):
    return click.option("--store", "store_dir", type=STORE_FILE, required=True,
                        envvar="DEPRULES_STORE", show_envvar=True,
                        help="Ledger store: one SQLite database file.")(f)


def emit_json(data: dict) -> None:
    """Print one JSON document; ``schema_version`` comes first (docs/json-output.md)."""
    if "schema_version" not in data:
        data = {"schema_version": SCHEMA_VERSION, **data}
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def load(config_dir, rules_dir, overlays=(), sets=()):
    from ..workspace import load_setup

    return load_setup(config_dir, rules_dir, overlays, sets)


def report_errors(f):
    """Turn deprules errors into a message and an exit code, never a traceback."""

    @wraps(f)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        fmt = kwargs.get("fmt", "text")
        try:
            return f(*args, **kwargs)
        except ProblemsError as exc:
            if fmt == "json":
                emit_json({"ok": False, "problems": [p.as_dict() for p in exc.problems]})
            else:
                click.echo(exc.render(), err=True)
            ctx.exit(exc.exit_code)
        except DeprulesError as exc:
            if fmt == "json":
                emit_json({"ok": False, "error": str(exc), "kind": type(exc).__name__})
            else:
                click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except MemoryError:
            click.echo("error: out of memory; try fewer accounts or --workers 1", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was committed", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # the reader went away (`| head`): stop quietly, as Unix tools do
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except OSError as exc:
            click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
                       err=True)
            ctx.exit(2)
        except RecursionError:
            # e.g. a rule condition of thousands of nested operators: Python's parser gives up
            click.echo("error: the input is nested too deeply to process (a condition or "
                       "document with thousands of nested levels?)", err=True)
            ctx.exit(2)
        except OverflowError as exc:
            click.echo(f"error: a number is too large to process ({exc}); money must fit "
                       "64-bit minor units and dates the years 1700 to 2261", err=True)
            ctx.exit(2)
        except UnicodeDecodeError as exc:
            click.echo(f"error: a file is not UTF-8 text ({exc.reason} at byte {exc.start}: "
                       f"{exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8", err=True)
            ctx.exit(2)
        except ValueError as exc:
            if type(exc).__name__ != "OutOfBoundsDatetime":  # pandas; not imported here
                raise
            click.echo(f"error: a date is out of the range the ledger can store ({exc}); "
                       "dates must be in the years 1700 to 2261", err=True)
            ctx.exit(2)

    return wrapper
