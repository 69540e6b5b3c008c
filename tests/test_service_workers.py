"""deprules serve --workers N (the real command, forked workers on one socket) and jobs kept
as files: metrics summed over the workers, a reload asked of one worker done by all, one
decision-log line per decision, a job that outlives a restart or is reported interrupted.
Polling with generous deadlines only, no timing assertions."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from deprules.service import ServiceSettings
from deprules.tokens import add_token

from test_service import (AS_OF, DEADLINE, ROOT, SAMPLE, SAMPLE_IDS, ThreadServer, _get,
                          cli_evaluate, rows_of, wait_for)


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_workers_share_metrics_reloads_and_the_decision_log(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    tokens = tmp_path / "tokens.json"
    token = add_token(tokens, "olga", ["operator"])[0]
    h = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "decisions.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "deprules"), "serve",
                             "--port", "0", "--workers", "2", "--config", str(config),
                             "--rules", str(ROOT / "rules"), "--tokens", str(tokens),
                             "--decision-log", str(log), "--reload-interval", "0",
                             "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    try:
        text = ""
        while not text.rstrip().endswith("}"):  # the one document, indented
            line = proc.stdout.readline()
            assert line, "deprules serve ended before it listened"
            text += line
        started = json.loads(text)
        assert started["workers"] == 2
        url = started["listening"]
        wait_for(lambda: _get(url + "/health"), "the workers to answer")
        n = 24
        with httpx.Client(base_url=url, timeout=DEADLINE) as one:
            for k in range(n):
                # a new connection each time: the kernel hands them to either worker
                account_id = SAMPLE_IDS[k % 6]
                r = httpx.post(url + "/v1/evaluate", headers=h, timeout=DEADLINE, json={
                    "account_id": account_id, "as_of": AS_OF, **rows_of(SAMPLE, account_id)})
                assert r.status_code == 200, r.text
                if k < 6:
                    assert r.json() == cli_evaluate(SAMPLE, account_id)
            # every worker's counters in every scrape (within the half second they lag)
            wait_for(lambda: metric(one.get("/metrics").text,
                                    'deprules_evaluations_total{result="ok"}') == n,
                     "the workers' evaluations in /metrics")
            text = one.get("/metrics").text
            assert metric(text, "deprules_config_info") == 2  # two workers, one hash
            lines = log.read_text().splitlines()
            assert len(lines) == n and all(json.loads(x)["status"] == 200 for x in lines)
            assert len({json.loads(x)["decision_id"] for x in lines}) == n

            # a reload asked of one worker is done by both
            old = started["config_hash"]
            path = config / "deposit_classes.yaml"
            path.write_text(path.read_text().replace("hold_months: 12", "hold_months: 13", 1))
            r = one.post("/v1/config/reload", headers=h)
            assert r.status_code == 200 and r.json()["config_hash"] != old
            new = r.json()["config_hash"]
            # the answer reports both workers, each done with this reload, on the new hash
            workers = r.json()["workers"]
            assert [w["worker"] for w in workers] == [0, 1], workers
            assert all(w["reloaded"] and w["ok"] and w["config_hash"] == new
                       and w["problems"] == 0 for w in workers), workers
            assert len({w["pid"] for w in workers}) == 2
            # an invalid change: refused by both, both still serving the new hash
            good = path.read_text()
            path.write_text(good.replace("hold_months: 13", "hold_months: -1", 1))
            r = one.post("/v1/config/reload", headers=h)
            assert r.status_code == 422 and r.json()["config_hash"] == new
            workers = r.json()["workers"]
            assert all(w["reloaded"] and not w["ok"] and w["problems"] >= 1
                       and w["config_hash"] == new for w in workers), workers
            path.write_text(good)
            r = one.post("/v1/config/reload", headers=h)
            assert r.status_code == 200 and all(w["ok"] for w in r.json()["workers"])
            wait_for(lambda: f'deprules_config_info{{config_hash="{new}"}} 2'
                     in one.get("/metrics").text, "both workers to serve the new hash")
            text = one.get("/metrics").text
            assert metric(text, 'deprules_config_reloads_total{result="ok"}') == 4  # 2 x 2
            assert metric(text, 'deprules_config_reloads_total{result="invalid"}') == 2
            for _ in range(6):
                r = httpx.get(url + "/health", timeout=DEADLINE)
                assert r.json()["config_hash"] == new
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _settings(tmp_path, tokens) -> ServiceSettings:
    return ServiceSettings(config_dir=ROOT / "config", rules_dir=ROOT / "rules",
                           tokens=tokens, extracts=ROOT / "examples",
                           jobs_dir=tmp_path / "jobs", reload_interval=0)


def test_jobs_outlive_a_restart_and_unfinished_ones_are_interrupted(tmp_path):
    tokens = tmp_path / "tokens.json"
    h = {"Authorization": f"Bearer {add_token(tokens, 'ann', ['analyst'])[0]}"}
    with ThreadServer(_settings(tmp_path, tokens)) as srv:
        r = srv.client.post("/v1/simulations", headers=h,
                            json={"extract": "extract", "as_of": AS_OF})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        done = wait_for(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
            srv.client.get(f"/v1/simulations/{job_id}", headers=h).json()), "the simulation")
        assert done["status"] == "done", done
    # a job that was running when its service stopped (as a killed process leaves it)
    record = json.loads((tmp_path / "jobs" / job_id / "job.json").read_text())
    lost = {**record, "id": "0123456789abcdef", "status": "running", "finished": None,
            "impact": None, "files": [], "instance": "an-earlier-start"}
    (tmp_path / "jobs" / lost["id"]).mkdir()
    (tmp_path / "jobs" / lost["id"] / "job.json").write_text(json.dumps(lost))
    with ThreadServer(_settings(tmp_path, tokens)) as srv:
        again = srv.client.get(f"/v1/simulations/{job_id}", headers=h).json()
        assert again == done  # status, impact and files, after the restart
        f = srv.client.get(done["files"]["impact.json"], headers=h)
        assert f.status_code == 200 and json.loads(f.content) == done["impact"]
        gone = srv.client.get(f"/v1/simulations/{lost['id']}", headers=h).json()
        assert gone["status"] == "interrupted" and gone["error"]["kind"] == "interrupted"
        text = srv.client.get("/metrics").text
        assert re.search(r'deprules_simulation_jobs\{status="interrupted"\} 1', text)
        assert re.search(r'deprules_simulation_jobs\{status="done"\} 1', text)


def held_simulations(monkeypatch):
    """deprules.simulate.simulate replaced by one that waits for ``release`` (an Event) and
    counts how many run at once: ``(running, peak, release)``, the counts as one-item lists."""
    import threading

    import deprules.simulate as simulate_module

    running, peak, release = [0], [0], threading.Event()
    lock = threading.Lock()

    class Result:
        impact = {"accounts": 0}

        def write(self, folder):
            return []

    def fake_simulate(*args, **kwargs):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(DEADLINE)
        with lock:
            running[0] -= 1
        return Result()

    monkeypatch.setattr(simulate_module, "simulate", fake_simulate)
    return running, peak, release


def test_max_jobs_and_the_queue_hold_for_all_workers(tmp_path, monkeypatch):
    # two workers' Jobs over one jobs folder (as --workers 2 has them): --max-jobs 1 lets
    # one simulation run at a time in the whole service, and the queue's limit (max_jobs +
    # max_queued_jobs) counts both workers' jobs; a stopping worker's waiting job is canceled
    import pytest

    from deprules.api import RequestError
    from deprules.service_jobs import Jobs

    running, peak, release = held_simulations(monkeypatch)
    settings = ServiceSettings(jobs_dir=tmp_path / "jobs", max_jobs=1, max_queued_jobs=2,
                               instance="one-start")
    a, b = Jobs(settings), Jobs(settings)
    a.SLOT_POLL = b.SLOT_POLL = 0.02
    req = {"extract_path": "x", "as_of": AS_OF}
    jobs = [a.submit("ann", req, None), b.submit("ann", req, None), a.submit("ann", req, None)]
    with pytest.raises(RequestError) as refused:  # 3 = max_jobs + max_queued_jobs, in all
        b.submit("ann", req, None)
    assert refused.value.status == 429
    wait_for(lambda: running[0] == 1 or None, "one simulation running")
    statuses = sorted(j.status for j in jobs)
    assert statuses == ["queued", "queued", "running"]
    release.set()
    for j in jobs:
        wait_for(lambda: j.status == "done" or None, "the simulations")
    assert peak[0] == 1
    # each job's file says so too, for every worker to read
    assert {x.id: x.status for x in a.all()} == {j.id: "done" for j in jobs}
    # a job waiting for a slot when its worker stops is canceled, the slot's holder runs on
    release.clear()
    first = a.submit("ann", req, None)
    wait_for(lambda: first.status == "running" or None, "a simulation running")
    waiting = b.submit("ann", req, None)
    b.close()
    assert waiting.status == "canceled" and running[0] == 1
    release.set()
    a.close()
    assert first.status == "done"


def test_the_queue_limit_reads_no_job_file_and_frees_a_dead_process_place(tmp_path,
                                                                          monkeypatch):
    # the jobs folder keeps every finished job (with --jobs-dir, across restarts): a
    # submission counts the locked markers of the jobs queued or running, never job.json;
    # a marker nobody holds (its process was killed) is removed, its place free
    import pytest

    from deprules.api import RequestError
    from deprules.service_jobs import Job, Jobs

    _, _, release = held_simulations(monkeypatch)
    settings = ServiceSettings(jobs_dir=tmp_path / "jobs", max_jobs=1, max_queued_jobs=1,
                               instance="one-start")
    a, b = Jobs(settings), Jobs(settings)
    a.SLOT_POLL = b.SLOT_POLL = 0.02
    for k in range(50):  # finished jobs of earlier starts
        a.save(Job(f"{k:016x}", "ann", {"as_of": AS_OF}, status="done", instance="earlier"))
    read = []
    monkeypatch.setattr(Jobs, "_read", lambda self, job_id: read.append(job_id))
    req = {"extract_path": "x", "as_of": AS_OF}
    first = a.submit("ann", req, None)
    second = b.submit("ann", req, None)  # 2 = max_jobs + max_queued_jobs, in both
    with pytest.raises(RequestError) as refused:
        a.submit("ann", req, None)
    assert refused.value.status == 429
    with pytest.raises(RequestError):
        b.submit("ann", req, None)
    assert read == []  # three submissions, not one job.json read
    active = tmp_path / "jobs" / ".slots" / "active"
    assert sorted(p.name for p in active.iterdir()) == sorted([first.id, second.id])
    # a process killed with its job queued leaves its marker, unlocked (the kernel frees a
    # dead process's locks): b's marker as it would be then
    b._markers.pop(second.id).close()
    third = a.submit("ann", req, None)
    assert sorted(p.name for p in active.iterdir()) == sorted([first.id, third.id])
    release.set()
    for j in (first, third):
        wait_for(lambda: j.status == "done" or None, "the simulations")
    wait_for(lambda: not list(active.iterdir()) or None, "the finished jobs' markers gone")
    a.close()
    b.close()
    assert read == []


def test_job_counts_read_a_finished_job_once(tmp_path, monkeypatch):
    # /metrics counts the jobs by status at every scrape: the jobs folder keeps every
    # finished job, whose file never changes again and is read once
    from deprules.service_jobs import Job, Jobs

    settings = ServiceSettings(jobs_dir=tmp_path / "jobs", instance="one-start")
    jobs = Jobs(settings)
    for k in range(20):
        jobs.save(Job(f"{k:016x}", "ann", {"as_of": AS_OF}, status="done", instance="earlier"))
    going = Job("f" * 16, "ann", {"as_of": AS_OF}, status="running", instance="one-start",
                pid=os.getpid())
    lost = Job("e" * 16, "ann", {"as_of": AS_OF}, status="running", instance="earlier")
    jobs.save(going)
    jobs.save(lost)
    read, original = [], Jobs._read
    monkeypatch.setattr(Jobs, "_read", lambda self, job_id: read.append(job_id) or
                        original(self, job_id))
    first = jobs.counts()
    assert (first["done"], first["running"], first["interrupted"]) == (20, 1, 1), first
    assert len(read) == 22
    read.clear()
    assert jobs.counts() == first
    assert read == [going.id]  # only the job still going
    jobs.close()


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_workers_end_when_their_parent_is_killed(tmp_path):
    # SIGKILL cannot be passed on: the workers learn of it from the kernel (parent-death
    # signal) and shut down instead of serving the socket on their own
    if not sys.platform.startswith("linux"):
        return
    tokens = tmp_path / "tokens.json"
    h = {"Authorization": f"Bearer {add_token(tokens, 'olga', ['operator'])[0]}"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "deprules"), "serve",
                             "--port", "0", "--workers", "2", "--config", str(ROOT / "config"),
                             "--rules", str(ROOT / "rules"), "--tokens", str(tokens),
                             "--reload-interval", "0", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    pids: list[int] = []
    try:
        text = ""
        while not text.rstrip().endswith("}"):
            line = proc.stdout.readline()
            assert line, "deprules serve ended before it listened"
            text += line
        url = json.loads(text)["listening"]
        wait_for(lambda: _get(url + "/health"), "the workers to answer")
        r = wait_for(lambda: (lambda r: r if all(w["pid"] for w in r.json()["workers"])
                              else None)(httpx.post(url + "/v1/config/reload", headers=h,
                                                    timeout=DEADLINE)),
                     "every worker's pid")
        pids = [w["pid"] for w in r.json()["workers"]]
        assert len(set(pids)) == 2 and proc.pid not in pids
        proc.kill()
        proc.wait(DEADLINE)
        wait_for(lambda: all(_ended(p) for p in pids) or None, "the workers to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in pids:
            if not _ended(p):
                os.kill(p, signal.SIGKILL)
