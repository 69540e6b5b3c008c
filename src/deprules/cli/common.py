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


def setup_options(f):
    """--config and --rules, present on every command."""
    f = click.option("--rules", "rules_dir", type=click.Path(path_type=Path), default="rules",
                     show_default=True, envvar="DEPRULES_RULES",
                     help="Folder of rule files (*.yaml).")(f)
    f = click.option("--config", "config_dir", type=click.Path(path_type=Path),
                     default="config", show_default=True, envvar="DEPRULES_CONFIG",
                     help="Configuration folder.")(f)
    return f


def format_option(f):
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="Output format.")(f)


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
    f = click.option("--by", "who", default=default_user, show_default="$DEPRULES_USER or login",
                     help="Who is doing this (kept in the journal).")(f)
    return f


def store_option(f):
    return click.option("--store", "store_dir", type=click.Path(path_type=Path), required=True,
                        envvar="DEPRULES_STORE", help="Ledger store file ($DEPRULES_STORE).")(f)


def emit_json(data) -> None:
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
