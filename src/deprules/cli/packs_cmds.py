"""deprules test / deprules pack: regression packs of named scenarios."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from .common import (
    binary_stdout,
    FILE_OR_DASH,
    FOLDER,
    PROCESS_DATE,
    emit_json,
    format_option,
    is_dash,
    one_document_on_stdout,
    report_errors,
    setup_options,
)
from .main import cli


@cli.command("test")
@click.argument("targets", nargs=-1, required=True, metavar="PACK_OR_DIR...")
@click.option("-k", "keyword", metavar="EXPRESSION",
              help='Only scenarios whose name, file or seed step matches, e.g. -k seizure, '
                   '-k "2.4 and not ohio". FILE::NAME also selects one scenario.')
@click.option("--junit", "junit_file", type=FILE_OR_DASH, metavar="FILE",
              help="Also write a JUnit XML report (one testcase per scenario); - writes it "
                   "to standard output, and the text report to standard error.")
@click.option("--update", is_flag=True,
              help="Rewrite the expectations of the selected scenarios from their current "
                   "results (shows the diff, then writes).")
@click.option("--diff", "show_diff", is_flag=True,
              help="Show the diff --update would write, without writing.")
@click.option("--coverage", is_flag=True,
              help="Report rule, condition and threshold coverage of the selected scenarios.")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PCT",
              help="With --coverage: exit 1 when the total coverage is below PCT.")
@click.option("-v", "--verbose", is_flag=True, help="Show the trace of passing scenarios too.")
@setup_options
@format_option
@report_errors
def test_cmd(targets, keyword, junit_file, update, show_diff, coverage, fail_under, verbose,
             config_dir, rules_dir, fmt):
    """Run regression packs: every scenario passes or fails with expected vs actual.

    PACK_OR_DIR is a pack file (*.yaml) or a folder of them; - reads one pack from
    standard input (its from_extract: folders are relative to the working directory;
    --update cannot rewrite it). A failure shows each
    field's expected and actual value and the trace of the account (rules fired,
    manual steps). Scenarios run on the durable-rules engine. Exit 0 when every
    scenario passes, 1 when one fails (or coverage is below --fail-under), 2 for
    unusable input; an invalid pack file is reported as FILE:LINE:COL.
    """
    from ..errors import InputError
    from ..packs import SetupCache, load_packs, run_scenarios, select
    from ..packs import report
    from ..packs.coverage import Coverage, render_text as coverage_text

    if fail_under is not None and not coverage:
        raise InputError("--fail-under needs --coverage")
    junit_stdout = is_dash(junit_file)
    if junit_stdout:
        one_document_on_stdout(fmt, "--junit")
    if update and any(is_dash(t) for t in targets):
        raise click.UsageError("--update rewrites pack files; a pack read from standard "
                               "input (-) cannot be rewritten (use --diff to see the change)")
    # with --junit - the XML is standard output's one document; the report goes to stderr
    echo = functools.partial(click.echo, err=junit_stdout)
    cache = SetupCache(config_dir, rules_dir)
    packs = load_packs(targets, rule_ids=cache.rule_ids())
    scenarios = select(packs, keyword)
    if not scenarios:
        raise InputError(f"no scenario selected (-k {keyword!r})" if keyword else
                         "the packs hold no scenarios")
    cov = Coverage(cache.base.book, cache.base.config.installation.minor_units) \
        if coverage else None
    results = run_scenarios(scenarios, cache, observe=cov.observe if cov else None)
    if cov is not None:
        for r in results:
            cov.add_result(r)
    updates = []
    if update or show_diff:
        from ..packs.update import plan_updates

        updates = [u for u in plan_updates(results) if u.changed]
    if junit_file is not None:
        from ..packs.junit import write_junit, write_junit_stream

        if junit_stdout:
            write_junit_stream(results, binary_stdout())
        else:
            write_junit(results, junit_file)
    cov_data = cov.as_dict() if cov is not None else None
    below = cov_data is not None and fail_under is not None and \
        cov_data["total"]["percent"] < fail_under
    if fmt == "json":
        data = report.render_json(results)
        if cov_data is not None:
            data["coverage"] = cov_data
            if fail_under is not None:
                data["coverage"]["fail_under"] = fail_under
                data["ok"] = data["ok"] and not below
        if updates:
            data["updates"] = [{"file": u.display, "scenarios": u.scenarios, "diff": u.diff(),
                                "written": bool(update)} for u in updates]
        emit_json(data)
    else:
        echo(report.render_text(results, verbose))
        if cov_data is not None:
            echo("")
            echo(coverage_text(cov_data))
            if fail_under is not None:
                verdict = "below" if below else "at or above"
                echo(f"total coverage {cov_data['total']['percent']:.1f}% is {verdict} "
                           f"--fail-under {fail_under:g}%")
        for u in updates:
            echo("")
            echo(u.diff().rstrip("\n"))
        if show_diff or update:
            echo("")
            if not updates:
                echo("expectations already match: nothing to update")
    if update:
        for u in updates:
            u.write()
            if fmt != "json":
                echo(f"updated {u.display}: {', '.join(u.scenarios)}")
        # the new expectations are what the scenarios produce; what an update cannot fix:
        stuck = [r for r in results if r.status == "error" or any(
            m.field == "invariants" or m.field.startswith("when.") for m in r.mismatches)]
        if stuck:
            if fmt != "json":
                echo(f"{len(stuck)} scenario(s) still fail (errors, broken invariants "
                           f"or steps): {', '.join(r.name for r in stuck)}")
            raise SystemExit(1)
        return
    if junit_file is not None and fmt != "json" and not junit_stdout:
        echo(f"JUnit report: {junit_file}")
    failed = any(not r.passed for r in results)
    if failed or below:
        raise SystemExit(1)


@cli.group("pack")
def pack_group():
    """Work with regression pack files: capture accounts as scenarios, list scenarios."""


@pack_group.command("capture")
@click.argument("account_ids", nargs=-1, required=True, metavar="ACCOUNT_ID...")
@click.option("--extract", "extract_dir", type=FOLDER, required=True,
              help="Extract folder holding the accounts.")
@click.option("--as-of", "as_of", type=PROCESS_DATE, required=True, help="Process date of the cycle.")
@click.option("--out", "out_file", type=FILE_OR_DASH, required=True, metavar="FILE",
              help="The pack file to write; - writes it to standard output (paths in it are "
                   "then relative to the working directory).")
@click.option("--reference", is_flag=True,
              help="Name the extract (from_extract:) instead of copying the accounts inline.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@setup_options
@format_option
@report_errors
def pack_capture(account_ids, extract_dir, as_of, out_file, reference, force, config_dir,
                 rules_dir, fmt):
    """Turn real accounts into scenarios: given from the extract, when = the cycle on
    --as-of, expect = what the rules do now. Review the file, then keep it in packs/.
    """
    from ..errors import InputError
    from ..packs import SetupCache
    from ..packs.capture import capture_text

    to_stdout = is_dash(out_file)
    if to_stdout:
        one_document_on_stdout(fmt, "--out")
    elif out_file.exists() and not force:
        raise InputError(f"{out_file} exists; use --force to replace it")
    ids = list(dict.fromkeys(account_ids))
    cache = SetupCache(config_dir, rules_dir)
    # a pack on stdout is written as if it were a file in the working directory
    target = Path("captured.yaml") if to_stdout else out_file
    text = capture_text(ids, extract_dir, as_of, cache, target, reference=reference)
    if to_stdout:
        out = binary_stdout()
        out.write(text.encode("utf-8"))
        out.flush()
        click.echo(f"wrote {len(ids)} scenario(s) to standard output", err=True)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text)
    if fmt == "json":
        emit_json({"ok": True, "file": str(out_file), "scenarios": len(ids),
                   "account_ids": ids, "as_of": as_of.isoformat(), "reference": reference})
        return
    click.echo(f"wrote {out_file}: {len(ids)} scenario(s); run `deprules test {out_file}`")


@pack_group.command("list")
@click.argument("targets", nargs=-1, required=True, metavar="PACK_OR_DIR...")
@click.option("-k", "keyword", metavar="EXPRESSION", help="As for deprules test.")
@setup_options
@format_option
@report_errors
def pack_list(targets, keyword, config_dir, rules_dir, fmt):
    """List the scenarios of packs (validating them): id, seed steps, description."""
    from ..packs import SetupCache, load_packs, select

    cache = SetupCache(config_dir, rules_dir)
    scenarios = select(load_packs(targets, rule_ids=cache.rule_ids()), keyword)
    rows = [{"id": s.id, "file": s.file, "line": s.line, "name": s.name,
             "seed_steps": list(s.seed_steps), "description": s.description} for s in scenarios]
    if fmt == "json":
        emit_json({"scenarios": rows})
        return
    for r in rows:
        steps = ",".join(r["seed_steps"]) or "-"
        click.echo(f"{r['id']}  [{steps}]")
