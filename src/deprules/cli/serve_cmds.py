"""deprules serve (the decision service) and deprules token (its users). docs/service.md."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click

from .common import (
    FILE_OR_DASH,
    FOLDER,
    STORE_FILE,
    emit_json,
    format_option,
    is_dash,
    one_document_on_stdout,
    report_errors,
    setup_options,
    store_wait,
)
from .main import cli


@cli.command("serve")
@setup_options
@click.option("--tokens", "tokens", type=FILE_OR_DASH,
              help="Tokens file (deprules token add): every /v1 endpoint then needs "
                   "Authorization: Bearer TOKEN. Without it the service listens on loopback "
                   "only. Re-read when it changes, so it cannot be - (standard input).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8181, show_default=True,
              help="Port (0: any free port; the one chosen is printed).")
@click.option("--decision-log", "decision_log", type=FILE_OR_DASH,
              help="Append one JSON line per decision to this file; - writes them to "
                   "standard output.")
@click.option("--extracts", type=FOLDER, metavar="DIR",
              help="Folder holding the extract folders POST /v1/simulations may name "
                   "(simulations are off without it).")
@click.option("--jobs-dir", "jobs_dir", type=FOLDER, metavar="DIR",
              help="Where simulation reports are written (default: a temporary folder "
                   "removed at exit).")
@click.option("--max-jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Simulations running at once, in all the workers together (more are "
                   "queued, up to 8 more; beyond that 429).")
@click.option("--max-body", "max_body", type=click.IntRange(1024), default=8 * 1024 * 1024,
              show_default=True, metavar="BYTES",
              help="Largest request body (batch: 8 times this).")
@click.option("--timeout", "timeout", type=click.FloatRange(0.1), default=30.0,
              show_default=True, metavar="SECONDS",
              help="Longest /v1/evaluate answer (504 beyond; batch: 10 times this).")
@click.option("--read-timeout", "read_timeout", type=click.FloatRange(0.1), default=60.0,
              show_default=True, metavar="SECONDS",
              help="Longest time a request may take to arrive: its head from when the "
                   "connection waits for one, its body from the end of its head (408 and "
                   "the connection closed beyond; a connection that sends nothing is "
                   "closed).")
@click.option("--engine", type=click.Choice(["python", "durable"]), default="python",
              show_default=True,
              help="Rule matching back end of /v1/evaluate: python (faster) or durable (the "
                   "default of deprules evaluate); they decide alike "
                   "(tests/test_engine_differential.py). Batches use python.")
@click.option("--store", "store", type=STORE_FILE, metavar="PATH",
              help="Serve this ledger store under /v1/ledger: read accounts, To Dos and check "
                   "requests; with --tokens also the CSR, approval and A/P operations and "
                   "batch runs, as the users of the tokens (docs/service.md).")
@click.option("--ap-dir", "ap_dir", type=FOLDER, metavar="DIR",
              help="Folder POST /v1/ledger/ap/export writes A/P files to (and GET "
                   "/v1/ledger/ap/files/NAME reads them from); A/P export over HTTP is off "
                   "without it.")
@click.option("--reload-interval", "reload_interval", type=click.FloatRange(0), default=2.0,
              show_default=True, metavar="SECONDS",
              help="How often config/ and rules/ are looked at for changes (0: never).")
@click.option("--limit-concurrency", "limit_concurrency", type=click.IntRange(1), default=256,
              show_default=True, metavar="N",
              help="Connections and requests at once (503 beyond).")
@click.option("--graceful-timeout", "graceful", type=click.IntRange(0), default=30,
              show_default=True, metavar="SECONDS",
              help="On SIGTERM/SIGINT: how long requests in flight may take to finish.")
@click.option("--access-log", is_flag=True, help="Log every request (uvicorn's access log).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              metavar="N",
              help="Worker processes on the one socket, each with the configuration loaded "
                   "(one decides on one core at a time); metrics, reloads, the decision log "
                   "and simulation jobs are shared (docs/service.md).")
@format_option
@report_errors
def serve(config_dir, rules_dir, tokens, host, port, decision_log, extracts, jobs_dir,
          max_jobs, max_body, timeout, read_timeout, engine, store, ap_dir, reload_interval,
          limit_concurrency, graceful, access_log, workers, fmt):
    """Run the decision service: POST /v1/evaluate (the evaluate --format json document of
    the rows given), /v1/evaluate/batch, /v1/simulations, /v1/config; /health, /ready,
    /metrics. Configuration and rules are reloaded when they change (an invalid change is
    refused and reported; the old configuration keeps serving). docs/service.md.
    """
    import logging

    import uvicorn

    from ..errors import InputError
    from ..service import Service, ServiceSettings, create_app, is_loopback

    if is_dash(tokens):
        raise click.BadParameter("the tokens file is re-read when it changes (a removed token "
                                 "is revoked at once); it cannot be - (standard input)",
                                 param_hint="--tokens")
    if is_dash(decision_log) and fmt == "json":
        one_document_on_stdout(fmt, "--decision-log")
    if tokens is None and not is_loopback(host):
        raise InputError(f"refusing to listen on {host} without --tokens: anyone who can "
                         "reach it could call the service. Give --tokens FILE (deprules token "
                         "add), or listen on 127.0.0.1")
    if tokens is not None and not tokens.exists():
        raise InputError(f"tokens file {tokens} does not exist; create it with deprules "
                         "token add --tokens FILE --user USER --role ROLE")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    settings = ServiceSettings(config_dir=config_dir, rules_dir=rules_dir, tokens=tokens,
                               decision_log=decision_log, extracts=extracts, jobs_dir=jobs_dir,
                               max_jobs=max_jobs, max_body_bytes=max_body,
                               max_batch_body_bytes=max_body * 8, request_timeout=timeout,
                               batch_timeout=timeout * 10, engine=engine,
                               reload_interval=reload_interval, store=store,
                               store_wait=store_wait(), workers=workers, ap_dir=ap_dir)
    if ap_dir is not None and not ap_dir.is_dir():
        raise InputError(f"--ap-dir {ap_dir} is not a folder")
    if store is not None:
        from ..ledger.sqlstore import Store

        Store.open(store)  # a missing or foreign file is refused now, not at the first call
    if workers == 1:
        service = Service(settings)  # ConfigError here: nothing to serve
        config_hash = service.decider.hash
    else:  # validated here; each worker loads it again after the fork
        from ..workspace import load_setup

        service = None
        config_hash = load_setup(config_dir, rules_dir).hash
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"
    click.echo(f"deprules serve: listening on {url} (configuration {config_hash[:12]}, "
               f"{'tokens ' + str(tokens) if tokens else 'no tokens: loopback only'}"
               f"{f', {workers} workers' if workers > 1 else ''})", err=True)
    if fmt == "json":  # for a supervisor that reads the port chosen by --port 0
        emit_json({"listening": url, "port": bound, "config_hash": config_hash,
                   "tokens": tokens is not None, "workers": workers})
        sys.stdout.flush()
    from ..service_http import protocol_class

    if service is not None:
        def config_hash_now() -> str:
            return service.decider.hash
    else:  # each worker's own, after a reload: the worker sets it (service_workers)
        from ..service_workers import current_hash as config_hash_now
    options = dict(log_level="info", access_log=access_log,
                   http=protocol_class(read_timeout, config_hash_now),
                   limit_concurrency=limit_concurrency, timeout_graceful_shutdown=graceful,
                   timeout_keep_alive=5, lifespan="on", server_header=False)
    if workers > 1:
        from ..service_workers import serve_workers

        sys.exit(serve_workers(settings, sock, workers, options))
    config = uvicorn.Config(create_app(service), **options)
    uvicorn.Server(config).run(sockets=[sock])


# ---- tokens -----------------------------------------------------------------------------------
def tokens_option(f):
    return click.option("--tokens", "tokens", type=FILE_OR_DASH, required=True,
                        callback=_no_dash,
                        help="Tokens file (JSON, mode 0600; only the tokens' hashes). It is "
                             "rewritten in place, so it cannot be - (standard input).")(f)


def _no_dash(ctx, param, value):
    if is_dash(value):
        raise click.BadParameter("the tokens file is read and rewritten; it cannot be - "
                                 "(standard input)", ctx, param)
    return value


@cli.group("token")
def token_group():
    """Users of the decision service: bearer tokens with roles (docs/service.md)."""


@token_group.command("add")
@tokens_option
@click.option("--user", required=True, help="Who holds the token (in the decision log).")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["analyst", "csr", "approver", "ap", "operator"]),
              help="A role (repeatable).")
@format_option
@report_errors
def token_add(tokens, user, roles, fmt):
    """Create a token for USER with ROLEs: printed once, only its hash is stored."""
    from ..tokens import add_token

    token, entry = add_token(tokens, user, list(roles))
    if fmt == "json":
        emit_json({"token": token, "id": entry["id"], "user": entry["user"],
                   "roles": entry["roles"]})
        return
    click.echo(token)
    click.echo(f"token {entry['id']} for {user} ({', '.join(entry['roles'])}) added to {tokens};"
               " it is shown only now", err=True)


@token_group.command("list")
@tokens_option
@format_option
@report_errors
def token_list(tokens, fmt):
    """The tokens of the file: id, user, roles, created (never the tokens)."""
    from ..tokens import read_tokens

    rows = [{k: t.get(k) for k in ("id", "user", "roles", "created")}
            for t in read_tokens(tokens)]
    if fmt == "json":
        emit_json({"tokens": rows})
        return
    for r in rows:
        click.echo(f"{r['id']}  {r['user']:<20} {','.join(r['roles']):<30} {r['created']}")


@token_group.command("remove")
@tokens_option
@click.option("--id", "token_id", help="The token's id (token list).")
@click.option("--user", help="Remove every token of this user.")
@format_option
@report_errors
def token_remove(tokens, token_id, user, fmt):
    """Remove a token (--id) or all of a user's (--user); a running service stops accepting
    them at once."""
    from ..tokens import remove_tokens

    gone = remove_tokens(tokens, token_id, user)
    if fmt == "json":
        emit_json({"removed": [{k: t.get(k) for k in ("id", "user", "roles")} for t in gone]})
        return
    for t in gone:
        click.echo(f"removed {t['id']} ({t['user']})")
