"""The connections of the real `deprules serve` (one process and --workers 2): a request
that stops arriving is answered 408 and its connection closed (--read-timeout), a
request in flight when SIGTERM comes is answered before the service ends, and the workers
take keep-alive connections in turn. The outcomes,
never how long they took, are asserted: the stalled requests stay stalled whatever the
machine's speed, and the request in flight is seen in flight (/metrics) before the signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from test_service import AS_OF, DEADLINE, ROOT, SAMPLE, SAMPLE_IDS, _get, rows_of, wait_for
from test_service_schemas import check
from test_service_workers import metric

DEPRULES = str(Path(sys.executable).parent / "deprules")


def start(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([DEPRULES, "serve", "--port", "0", "--config", str(ROOT / "config"),
                             "--rules", str(ROOT / "rules"), "--reload-interval", "0",
                             "--format", "json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    text = ""
    while not text.rstrip().endswith("}"):
        line = proc.stdout.readline()
        if not line:
            proc.wait(DEADLINE)
            raise AssertionError("deprules serve ended before it listened")
        text += line
    url = json.loads(text)["listening"]
    wait_for(lambda: _get(url + "/health"), "the service to answer")
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=DEADLINE)


def read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


def response(data: bytes) -> tuple[int, dict, dict]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, \
        json.loads(body)


def evaluate_request(account_id: str) -> tuple[bytes, bytes]:
    body = json.dumps({"account_id": account_id, "as_of": AS_OF,
                       **rows_of(SAMPLE, account_id)}).encode()
    head = (f"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head, body


@pytest.mark.parametrize("workers", [1, 2])
def test_a_request_that_stops_arriving_is_answered_408(tmp_path, workers):
    proc, url = start("--read-timeout", "1", "--workers", str(workers),
                      "--extracts", str(ROOT / "examples"))
    try:
        # a connection that never sends a request: closed, nothing to answer
        with connect(url) as s:
            assert read_all(s) == b""
        # a head that stops half-way
        with connect(url) as s:
            s.sendall(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Le")
            status, headers, body = response(read_all(s))
            assert status == 408 and body["problems"][0]["code"] == "read-timeout", body
            check("problems", body)
            assert "request head" in body["problems"][0]["message"]
            assert len(headers["x-deprules-config-hash"]) == 64
        # a body that stops half-way, on the decision path and on a FastAPI route
        head, whole = evaluate_request(SAMPLE_IDS[0])
        for request in (head + whole[:40],
                        b"POST /v1/simulations HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: 80\r\n\r\n{\"extract\": "):
            with connect(url) as s:
                s.sendall(request)
                status, _, body = response(read_all(s))
                assert status == 408, body
                assert "request body" in body["problems"][0]["message"]
        # the service goes on answering
        wait_for(lambda: _get(url + "/health"), "the service to answer after the stalls")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE) in (0, -signal.SIGTERM)
    finally:
        stop(proc)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_the_request_in_flight_finish(tmp_path, workers):
    proc, url = start("--workers", str(workers))
    try:
        account_id = SAMPLE_IDS[2]
        head, body = evaluate_request(account_id)
        with connect(url) as s:
            s.sendall(head + body[:50])  # in flight: its head read, its body coming
            # /metrics counts itself and the request in flight (summed over the workers)
            wait_for(lambda: metric(httpx.get(url + "/metrics", timeout=DEADLINE).text,
                                    "deprules_http_requests_in_flight") >= 2,
                     "the request in flight")
            proc.send_signal(signal.SIGTERM)
            s.sendall(body[50:])
            # answered, then the connection closed (read_all ends): no next request on it
            status, _, doc = response(read_all(s))
        assert status == 200 and doc["account_id"] == account_id, doc
        assert proc.wait(DEADLINE) in (0, -signal.SIGTERM)
    finally:
        stop(proc)
