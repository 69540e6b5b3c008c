"""Drive Debian's headless Chromium directly (no Python browser driver): screenshots, and
checks run inside the page whose results come back through --dump-dom."""

from __future__ import annotations

import json
import re
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
