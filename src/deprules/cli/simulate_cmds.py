"""deprules simulate: what-if simulation over a customer extract, with an impact report."""

from __future__ import annotations

import sys

import click

from .common import FOLDER, PROCESS_DATE, format_option, report_errors, setup_options, whatif_option
from .main import cli


@cli.command("simulate")
@click.option("--extract", "extract_dir", type=FOLDER, required=True,
              help="Extract folder (never modified).")
@click.option("--as-of", "as_of", type=PROCESS_DATE, required=True, help="Process date.")
@whatif_option("Candidate: an overlay YAML of sections, or a folder (files named like "
               "configuration files replace them; other *.yaml are overlays); - reads an "
               "overlay YAML from standard input. Repeatable.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Candidate: change one value, e.g. "
                   "deposit_classes.RES.refund_criteria.hold_months=18. Repeatable.")
@click.option("--candidate-rules", "candidate_rules", type=FOLDER, metavar="DIR",
              help="Candidate: a rules folder used instead of --rules (an edited rule's impact "
                   "on the whole extract); combines with --whatif and --set.")
@click.option("--out", "out_dir", type=FOLDER, metavar="DIR",
              help="Write accounts.csv, accounts.parquet, impact.json and report.html here.")
@click.option("--horizon", type=click.IntRange(1, 120), default=None, metavar="MONTHS",
              help="Run MONTHS monthly process dates from --as-of (1 to 120), the state carried "
                   "forward, and project month by month.")
@click.option("--workers", type=click.IntRange(1, 1024), default=1, show_default=True,
              metavar="N",
              help="Dask workers of a local cluster (--engine dask, every rules engine), or "
                   "worker processes of the per-account rules engines (python, durable) with "
                   "--engine local, where --rules-engine vector runs in this process and a "
                   "forked second one (its candidate, or every second partition).")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Where partitions run.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Dask scheduler address (tcp://host:8786); default: a local cluster.")
@click.option("--ship-partitions", "ship_partitions", is_flag=True,
              help="With --engine dask and the vector engine on a Parquet extract: load the "
                   "extract here and send each partition to its worker, for workers that "
                   "cannot read the extract's folder (by default each worker reads its own "
                   "rows, at the same path; docs/simulate.md).")
@click.option("--partition-size", "partition_size", type=click.IntRange(1), default=None,
              metavar="N",
              help="Accounts per partition (at most). Default: 5000 for the per-account "
                   "engines; with --engine dask and the vector engine, two partitions per "
                   "worker of at least 20000 accounts; with --engine local and the vector "
                   "engine, the whole extract at once below 400000 accounts, else "
                   "partitions of 250000 (bounded memory; a Parquet extract is read "
                   "partition by partition, shared between two processes).")
@click.option("--rules-engine", "rules_engine",
              type=click.Choice(["vector", "python", "durable"]), default=None,
              help="vector (default): set-at-a-time, the same results as python, far "
                   "faster: in this process (the whole extract, or partitions of a large "
                   "one), or partitions of accounts on Dask (--engine dask); python: per "
                   "account, in partitions; durable: per account, the reference matcher.")
@click.option("--reasons", type=click.Choice(["examples", "all"]), default="examples",
              show_default=True,
              help="With --rules-engine vector: work out the reason of the example accounts "
                   "impact.json and report.html show (examples) or of every changed account "
                   "in accounts.csv (all, slower: those accounts run again per account). The "
                   "per-account engines always give every reason.")
@setup_options
@format_option
@report_errors
def simulate_cmd(extract_dir, as_of, overlays, sets, candidate_rules, out_dir, horizon, workers,
                 engine, scheduler, ship_partitions, partition_size, rules_engine, reasons,
                 config_dir, rules_dir, fmt):
    """Run the automated cycle for every account of an extract under the baseline
    configuration (--config) and a candidate (baseline + --whatif overlays and --set
    values), in memory, and report the impact: accounts by outcome, money by category,
    per customer class, what moved from which outcome to which, and why.

    --candidate-rules DIR makes the candidate use another rules folder. Without --whatif,
    --set or --candidate-rules only the baseline runs. An invalid candidate exits 1 with
    the overlay's FILE:LINE:COL. Same inputs, same impact.json, whatever
    --rules-engine, --workers, --engine or --partition-size.
    """
    from ..errors import InputError
    from ..simulate import simulate

    if scheduler and engine != "dask":
        raise InputError("--scheduler needs --engine dask")
    if ship_partitions and engine != "dask":
        raise InputError("--ship-partitions needs --engine dask")
    show_bar = fmt == "text" and sys.stderr.isatty()
    bar = None

    def on_start(n: int) -> None:
        nonlocal bar
        if show_bar and n:
            bar = click.progressbar(length=n, label="simulating", file=sys.stderr,
                                    show_eta=True, show_pos=True)
            bar.__enter__()

    def progress(n: int) -> None:
        if bar is not None:
            bar.update(n)

    from ..mallocopt import keep_freed_memory

    keep_freed_memory()  # the cycles' arrays reused, not faulted in again
    try:
        result = simulate(extract_dir, as_of, config_dir=config_dir, rules_dir=rules_dir,
                          overlays=overlays, sets=sets, candidate_rules=candidate_rules,
                          horizon=horizon, workers=workers,
                          engine=engine, scheduler=scheduler, partition_size=partition_size,
                          rules_engine=rules_engine, progress=progress, on_start=on_start,
                          reasons=reasons, ship_partitions=ship_partitions)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    # everything is rendered before a file is written: no command writes some of its
    # files and then fails
    shown = result.json() if fmt == "json" else result.text()
    written = result.write(out_dir) if out_dir else []
    if fmt == "json":
        click.echo(shown, nl=False)
        return
    click.echo(shown)
    if written:
        click.echo("")
        click.echo(f"Reports in {out_dir}: " + ", ".join(p.name for p in written))
