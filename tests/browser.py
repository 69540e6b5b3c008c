"""Drive Debian's headless Chromium directly (no Python browser driver): screenshots, and
checks run inside the page whose results come back through --dump-dom; and :class:`Page`,
the DevTools protocol over Chromium's --remote-debugging-pipe (file descriptors 3 and 4,
JSON messages ended by NUL), for print-media emulation, printing to PDF and timings."""

from __future__ import annotations

import base64
import json
import os
import re
import time
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--disable-extensions"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run(args: list[str], url: str, width: int, height: int, timeout: int = 90
        ) -> subprocess.CompletedProcess:
    exe = chromium()
    assert exe, "no chromium"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}",
                               f"--window-size={width},{height}", *args, url],
                              capture_output=True, text=True, timeout=timeout)


def screenshot(html: Path, png: Path, width: int = 1400, height: int = 1000,
               keep: str | None = None) -> Path:
    """A PNG of the page; ``keep``: a CSS selector list of the parts of <main> to show."""
    page = html
    if keep:
        page = png.with_suffix(".shot.html")
        page.write_text(html.read_text().replace(
            "</head>", f"<style>main>*:not({keep}){{display:none}}</style></head>", 1))
    run([f"--screenshot={png}"], page.resolve().as_uri(), width, height)
    if keep:
        page.unlink()
    return png


HEAD = """<script>window.__errors=[];window.addEventListener('error',function(e){
window.__errors.push(String(e.message));});</script>"""


def evaluate(html: Path, check_js: str, width: int = 1400, height: int = 1000) -> dict:
    """Load the page with an error trap first and ``check_js`` (a function body returning a
    JSON-able value) last; return {"errors": [...], "console": [...], "result": ...}."""
    page = html.with_suffix(".check.html")
    text = html.read_text().replace("<head>", "<head>" + HEAD, 1)
    tail = ("<script>(function(){var out={errors:window.__errors};try{out.result=(function(){"
            + check_js + "})();}catch(e){out.errors.push('check: '+e);}"
            "var p=document.createElement('pre');p.id='check-result';"
            "p.textContent=JSON.stringify(out);document.body.appendChild(p);})();</script>")
    page.write_text(text.replace("</body>", tail + "</body>", 1))
    try:
        r = run(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
                 "--dump-dom"], page.resolve().as_uri(), width, height)
    finally:
        page.unlink()
    m = re.search(r'<pre id="check-result">(.*?)</pre>', r.stdout, re.S)
    assert m, f"no result from the page; stderr: {r.stderr[-2000:]}"
    import html as _html

    out = json.loads(_html.unescape(m.group(1)))
    out["console"] = [line for line in r.stderr.splitlines()
                      if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
    return out


class Page:
    """One headless Chromium with one page, driven over the DevTools protocol::

        with Page(width=1400) as page:
            page.open(path)                    # waits for the load event
            page.evaluate("document.title")    # the value, by JSON
            page.print_media()                 # CSS @media print, as the printer sees it
            pdf = page.pdf()                   # Page.printToPDF, the page's own @page size

    ``errors``: uncaught exceptions and console errors seen so far."""

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 120):
        exe = chromium()
        assert exe, "no chromium"
        self.timeout = timeout
        self.width, self.height = width, height
        self.errors: list[str] = []
        self._profile = tempfile.TemporaryDirectory()
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def fds() -> None:  # in the child, before exec: its fds 3 (commands), 4 (replies)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self._proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, pass_fds=(3, 4))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self._events: list[dict] = []
        self.session = None
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page.enable", "Runtime.enable"):
            self.send(domain)
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    # -- the protocol
    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        out = json.loads(msg)
        self._note(out)
        return out

    def _note(self, msg: dict) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            self.errors.append(str(d.get("exception", {}).get("description") or d["text"]))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                        for a in params.get("args", [])))

    def send(self, method: str, **params) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, method: str) -> dict:
        while True:
            for k, e in enumerate(self._events):
                if e["method"] == method:
                    return self._events.pop(k)
            msg = self._read()
            if "method" in msg:
                self._events.append(msg)

    # -- what tests use
    def open(self, html: Path) -> float:
        """Load a file; the seconds until its load event."""
        self._events.clear()
        start = time.monotonic()
        self.send("Page.navigate", url=Path(html).resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        return time.monotonic() - start

    def evaluate(self, expression: str):
        """An expression's value (a function body: wrap it in an IIFE yourself)."""
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(str(d.get("exception", {}).get("description") or d["text"]))
        return r["result"].get("value")

    def print_media(self, width: int | None = None) -> None:
        """Lay the page out as printed: @media print, and (``width``) the printable width."""
        self.send("Emulation.setEmulatedMedia", media="print")
        if width:
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=self.height,
                      deviceScaleFactor=1, mobile=False)

    def pdf(self) -> bytes:
        r = self.send("Page.printToPDF", preferCSSPageSize=True, printBackground=True,
                      displayHeaderFooter=False)
        return base64.b64decode(r["data"])

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError, TimeoutError):
            pass
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._profile.cleanup()

    def __enter__(self) -> "Page":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
