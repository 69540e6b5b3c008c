"""Throughput and latency of the decision service (docs/performance.md, "Decision service").

    nice .venv/bin/python benchmarks/serve.py                  # 32 clients, 20 s, 3 runs
    nice .venv/bin/python benchmarks/serve.py --clients 32 --seconds 20 --runs 3 --engine python
    nice .venv/bin/python benchmarks/serve.py --workers 2           # deprules serve --workers 2
    nice .venv/bin/python benchmarks/serve.py --workers 2 --client python   # without wrk

Starts ``deprules serve --port 0`` as its own process on the shipped configuration, then
for each run: ``--clients`` concurrent keep-alive connections POST /v1/evaluate for the
accounts of examples/extract in turn, for ``--seconds``; then POST /v1/evaluate/batch with
the whole sample, ``--batch-runs`` times. The load comes from the same machine, so the
client's CPU is taken from the server: ``--client wrk`` (the default when ``wrk`` is on the
PATH: Debian's package, ``apt-get install wrk``; script ``serve_wrk.lua``) costs about 0.05
ms of CPU per request; ``--client python`` (the fallback: a minimal asyncio HTTP/1.1 client
in this process, pre-encoded requests, Content-Length responses) about 0.15 ms.
Prints one JSON line per run and the median of the runs. Each run also reports the CPU
time the server's processes used per request (``server_cpu_ms``, from /proc: user + system
of the server and its workers), the client's (``client_cpu_ms``), the share of the
machine's CPU that went to neither (``others_cpu``: other work on a shared machine, from
/proc/stat), the share of the run each worker's event loop spent ready to run but waiting
for a CPU (``server_waiting``, the kernel's run-queue wait from /proc/PID/schedstat: the
part of the latency that is the machine's, not the service's) and the load average when it
ended: on a shared machine the requests per second depend on what else runs, the CPU per
request much less.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def server_waiting(pid: int) -> tuple[float, int]:
    """(seconds, threads): time the event-loop threads of the server's processes (its
    workers, or itself with one process) spent runnable but waiting for a CPU, so far
    (/proc/PID/schedstat: the kernel's run-queue wait)."""
    pids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    total = 0.0
    for p in pids or [pid]:
        try:
            total += int(Path(f"/proc/{p}/schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return total, len(pids or [pid])


def machine_cpu() -> tuple[float, float]:
    """(busy, total) seconds of CPU of the whole machine so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def _shares(cpu: float, client: float, m0, m1) -> float:
    busy, total = m1[0] - m0[0], m1[1] - m0[1]
    return round(max(0.0, busy - cpu - client) / total, 3) if total else 0.0


def wrk_load(port: int, bodies_file: str, clients: int, seconds: float,
             pid: int | None = None) -> dict:
    """One run of wrk (``serve_wrk.lua``): its own percentiles, of every request."""
    cmd = ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "10s",
           "-s", str(Path(__file__).with_name("serve_wrk.lua")), f"http://127.0.0.1:{port}"]
    cpu0 = server_cpu(pid) if pid else 0.0
    w0 = server_waiting(pid) if pid else (0.0, 1)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m0 = machine_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True,
                         env={**os.environ, "BENCH_BODIES": bodies_file})
    m1 = machine_cpu()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = server_cpu(pid) - cpu0 if pid else 0.0
    w1 = server_waiting(pid) if pid else (0.0, 1)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    n = max(1, r["requests"])
    client = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    wall = r["duration_us"] / 1e6
    return {"requests": r["requests"], "errors": r["errors"] + r["non_2xx"],
            "seconds": round(wall, 2), "per_second": round(r["requests"] / wall, 1),
            "p50_ms": round(r["p50_us"] / 1000, 2), "p90_ms": round(r["p90_us"] / 1000, 2),
            "p99_ms": round(r["p99_us"] / 1000, 2), "max_ms": round(r["max_us"] / 1000, 2),
            "server_cpu_ms": round(cpu / n * 1000, 3),
            "client_cpu_ms": round(client / n * 1000, 3),
            "others_cpu": _shares(cpu, client, m0, m1),
            "server_waiting": round((w1[0] - w0[0]) / (wall * w1[1]), 3) if wall else 0.0,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


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
    w0 = server_waiting(pid) if pid else (0.0, 1)
    own0 = os.times()
    m0 = machine_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    m1 = machine_cpu()
    own1 = os.times()
    cpu = server_cpu(pid) - cpu0 if pid else 0.0
    w1 = server_waiting(pid) if pid else (0.0, 1)
    mine = (own1.user - own0.user) + (own1.system - own0.system)
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000  # noqa: E731
    n = max(1, len(lat))
    return {"requests": len(lat), "errors": errors, "seconds": round(wall, 2),
            "per_second": round(len(lat) / wall, 1), "p50_ms": round(q(0.50), 2),
            "p90_ms": round(q(0.90), 2), "p99_ms": round(q(0.99), 2),
            "max_ms": round(lat[-1] * 1000, 2) if lat else 0.0,
            "server_cpu_ms": round(cpu / n * 1000, 3),
            "client_cpu_ms": round(mine / n * 1000, 3),
            "others_cpu": _shares(cpu, mine, m0, m1),
            "server_waiting": round((w1[0] - w0[0]) / (wall * w1[1]), 3) if wall else 0.0,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def wait_ready(port: int, workers: int, deadline: float = 120.0) -> None:
    """Until every worker answers GET /ready (a connection held open on each worker seen:
    the next goes to another one once it accepts)."""
    import socket

    held, seen = [], set()
    end = time.monotonic() + deadline
    try:
        while len(seen) < workers:
            if time.monotonic() > end:
                raise SystemExit(f"only {len(seen)} of {workers} workers answered")
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET /ready HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            held.append(s)
            body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b"{}"
            doc = json.loads(body or b"{}")
            if "worker" not in doc:  # a deprules before /ready named its worker
                return
            seen.add(doc["worker"])
            if len(held) > 4 * workers:  # a worker still loading: start again
                for h in held:
                    h.close()
                held = []
                time.sleep(0.2)
    finally:
        for h in held:
            h.close()


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
    ap.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                    help="load generator: wrk (apt-get install wrk), python (this process's "
                         "asyncio client), auto: wrk when on the PATH, else python")
    args = ap.parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
        if client == "python":
            print("wrk not found (apt-get install wrk): the load comes from this process's "
                  "asyncio client, which takes more of the machine's CPU", file=sys.stderr)
    elif client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk, or --client python")
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
        wait_ready(port, args.workers)
        reqs = [request("/v1/evaluate", b, port) for b in one]
        tmp = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)
        with tmp:
            tmp.write(b"\n".join(one) + b"\n")

        def run(seconds: float, pid: int | None = None) -> dict:
            if client == "wrk":
                return wrk_load(port, tmp.name, args.clients, seconds, pid)
            return asyncio.run(load(port, reqs, args.clients, seconds, pid))

        try:
            run(2.0)  # warm-up
            runs = []
            for k in range(args.runs):
                r = run(args.seconds, proc.pid)
                print(json.dumps({"run": k + 1, "clients": args.clients, "client": client,
                                  "engine": args.engine, "workers": args.workers, **r}),
                      flush=True)
                runs.append(r)
        finally:
            os.unlink(tmp.name)
        b = asyncio.run(batch(port, whole, len(one), args.batch_runs))
        print(json.dumps({"batch": b}), flush=True)
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("per_second", "p50_ms", "p99_ms", "server_cpu_ms", "client_cpu_ms",
                         "others_cpu", "server_waiting")}
        print(json.dumps({"median": med, "errors": sum(r["errors"] for r in runs),
                          "batch": b, "cpus": os.cpu_count(), "workers": args.workers,
                          "client": client,
                          "load_average": [round(x, 2) for x in os.getloadavg()]}))
    finally:
        proc.terminate()
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
