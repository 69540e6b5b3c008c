"""The HTTP connection of ``deprules serve``: uvicorn's own protocol (httptools, or h11
without it) with a read timeout. docs/service.md, "Shutdown, limits, timeouts".

uvicorn times out only an idle keep-alive connection after a response; a connection that
sends nothing, or a request head or body that stops half-way, is kept for ever, and with
``--limit-concurrency`` such connections (a slow or broken client, or a slowloris) end by
refusing everyone else with 503. Here a request must arrive within ``--read-timeout``
seconds: its head from the moment the connection waits for one (opened, or the last
answer sent), its body from the end of its head. Beyond, a request begun is answered 408
and the connection closed; a connection that sent nothing is closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable


class _OneWrite:
    """The connection's transport, as uvicorn's protocol sees it: a response's head and
    body go in one ``write``. uvicorn writes the head when the app starts the response and
    the body after: two system calls and two TCP segments for every answer, each waking the
    client (about a tenth of a small evaluation's CPU in the server went there). Writes are
    kept until the response is complete (``flush``, from the protocol), or, for what is not
    a complete response (a streamed body, a protocol error), until the loop's next turn."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport, loop):
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] | None = None

    def write(self, data) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name):  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


def protocol_class(read_timeout: float, config_hash: Callable[[], str]) -> type:
    """uvicorn's protocol class (what ``http="auto"`` would choose) with the read timeout."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class Protocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _read_timer: asyncio.TimerHandle | None = None
        _waited: object = None  # the request cycle the timer was armed after
        _partial = False  # bytes of a request head arrived since the timer was armed

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self.transport = _OneWrite(transport, self.loop)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            cycle = self.cycle
            if cycle is self._waited:
                self._partial = True  # a head begun, not complete yet
            else:  # a new request's head is complete: its body from now, if any is left
                self._cancel()
                self._waited = cycle
                if cycle.more_body and not cycle.response_complete:
                    self._read_timer = self.loop.call_later(read_timeout, self._timed_out)

        def on_response_complete(self) -> None:
            # now, not at the loop's next turn: behind the requests already read, which
            # are decided first, it could wait for many milliseconds
            self.transport.flush()
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc) -> None:
            self._cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._cancel()
            self._waited, self._partial = self.cycle, False
            self._read_timer = self.loop.call_later(read_timeout, self._timed_out)

        def _cancel(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None

        def _timed_out(self) -> None:
            self._read_timer = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is not self._waited:
                return  # a new request since (its own timer, if any, is armed)
            waiting_head = cycle is None or cycle.response_complete
            if waiting_head and not self._partial:
                self.transport.close()  # never sent a request: nothing to answer
                return
            if not waiting_head and (cycle.response_started or not cycle.more_body):
                return  # the request has arrived; --timeout is the answer's limit
            what = "request head" if waiting_head else "request body"
            body = json.dumps({"schema_version": 1, "ok": False, "problems": [{
                "field": "", "message": f"the {what} did not arrive within {read_timeout:g} s "
                f"(--read-timeout)", "code": "read-timeout"}]}).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n"
                b"x-deprules-config-hash: " + config_hash().encode() + b"\r\n\r\n" + body)
            self.transport.close()

    return Protocol
