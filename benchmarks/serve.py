"""Throughput and latency of the decision service (docs/performance.md, "Decision service").

    nice .venv/bin/python benchmarks/serve.py                  # 32 clients, 20 s, 3 runs
    nice .venv/bin/python benchmarks/serve.py --clients 32 --seconds 20 --runs 3 --engine python
    nice .venv/bin/python benchmarks/serve.py --workers 2           # deprules serve --workers 2

Starts ``deprules serve --port 0`` as its own process on the shipped configuration, then
for each run: ``--clients`` concurrent keep-alive connections POST /v1/evaluate for the
accounts of examples/extract in turn, for ``--seconds``; then POST /v1/evaluate/batch with
the whole sample, ``--batch-runs`` times. The client is a minimal asyncio HTTP/1.1 client
(pre-encoded requests, Content-Length responses) so that it takes as little of the
machine's CPU from the server as it can; it runs in this process, on the same machine.
Prints one JSON line per run and the median of the runs. Each run also reports the CPU
time the server's processes used per request (``server_cpu_ms``, from /proc: user + system
of the server and its workers) and the load average when it ended: on a shared machine the
requests per second depend on what else runs, the CPU per request much less.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "extract"
TABLES = ("accounts", "service_agreements", "non_cash_deposits", "financial_transactions")


def read(table):
    p = SAMPLE / f"{table}.csv"
    return list(csv.DictReader(p.open(newline=""))) if p.exists() else []


def bodies(as_of: str) -> tuple[list[bytes], bytes]:
    t = {n: read(n) for n in TABLES}
    out = []
    for a in t["accounts"]:
        aid = a["account_id"]
        sas = [r for r in t["service_agreements"] if r["account_id"] == aid]
        ids = {r["sa_id"] for r in sas}
        out.append(json.dumps({
            "account_id": aid, "as_of": as_of, "accounts": [a], "service_agreements": sas,
            "non_cash_deposits": [r for r in t["non_cash_deposits"] if r["account_id"] == aid],
            "financial_transactions": [r for r in t["financial_transactions"]
                                       if r["sa_id"] in ids]}).encode())
    return out, json.dumps({"as_of": as_of, **t}).encode()


def request(path: str, body: bytes, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _one(reader, writer, req: bytes) -> int:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def server_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) of process ``pid`` and its children (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


async def load(port: int, reqs: list[bytes], clients: int, seconds: float,
               pid: int | None = None) -> dict:
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(k: int):
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            status = await _one(reader, writer, reqs[i % len(reqs)])
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1
            i += clients
        writer.close()

    cpu0 = server_cpu(pid) if pid else 0.0
    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    cpu = server_cpu(pid) - cpu0 if pid else 0.0
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    return {"requests": len(lat), "errors": errors, "seconds": round(wall, 2),
            "per_second": round(len(lat) / wall, 1), "p50_ms": round(q(0.50), 2),
            "p99_ms": round(q(0.99), 2),
            "server_cpu_ms": round(cpu / max(1, len(lat)) * 1000, 3),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


async def batch(port: int, body: bytes, accounts: int, runs: int) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    req = request("/v1/evaluate/batch", body, port)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        status = await _one(reader, writer, req)
        times.append(time.perf_counter() - t0)
        assert status == 200, status
    writer.close()
    best = statistics.median(times)
    return {"accounts": accounts, "median_seconds": round(best, 3),
            "accounts_per_second": round(accounts / best, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-runs", type=int, default=5)
    ap.add_argument("--engine", default="python", choices=["python", "durable"])
    ap.add_argument("--as-of", default="2026-11-21")
    ap.add_argument("--workers", type=int, default=1, help="deprules serve --workers N")
    args = ap.parse_args()
    exe = Path(sys.executable).parent / "deprules"
    proc = subprocess.Popen([str(exe), "serve", "--port", "0", "--engine", args.engine,
                             "--config", str(ROOT / "config"), "--rules", str(ROOT / "rules"),
                             "--reload-interval", "0"]
                            + (["--workers", str(args.workers)] if args.workers != 1 else []),
                            stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        line = ""
        while "listening on" not in line:
            line = proc.stderr.readline()
            if not line:
                raise SystemExit("deprules serve did not start")
        port = int(line.split("listening on http://127.0.0.1:")[1].split()[0])
        one, whole = bodies(args.as_of)
        reqs = [request("/v1/evaluate", b, port) for b in one]
        asyncio.run(load(port, reqs, args.clients, 2.0))  # warm-up
        runs = []
        for k in range(args.runs):
            r = asyncio.run(load(port, reqs, args.clients, args.seconds, proc.pid))
            print(json.dumps({"run": k + 1, "clients": args.clients, "engine": args.engine,
                              "workers": args.workers, **r}), flush=True)
            runs.append(r)
        b = asyncio.run(batch(port, whole, len(one), args.batch_runs))
        print(json.dumps({"batch": b}), flush=True)
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("per_second", "p50_ms", "p99_ms", "server_cpu_ms")}
        print(json.dumps({"median": med, "errors": sum(r["errors"] for r in runs),
                          "batch": b, "cpus": os.cpu_count(), "workers": args.workers,
                          "load_average": [round(x, 2) for x in os.getloadavg()]}))
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
