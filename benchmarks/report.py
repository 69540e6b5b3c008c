"""report.html at scale: a what-if over a generated extract with a monthly horizon, then the
report opened in headless Chromium at 1,400 px.

    nice .venv/bin/python benchmarks/report.py --accounts 200000 --horizon 12

The extract is generated once (cached as Parquet under benchmarks/.cache/, git-ignored, as
benchmarks/run.py does). Measured:

- ``simulate``: the whole ``deprules simulate --extract ... --whatif examples/whatif
  --horizon N --out DIR`` command in a fresh process (all four files written): wall and CPU
  seconds, peak RSS (``os.wait4``);
- the sizes of report.html and impact.json, and how many example accounts the report
  holds (in its data) and puts in the page at once;
- in Chromium (``tests/browser.Page``, the DevTools protocol): the seconds from navigation
  to the load event as this script sees them, the page's own navigation timing (DOM content
  loaded, load event end) and first contentful paint, the number of DOM elements; script
  errors; whether the matrix's last column is inside its box and the window; each filter
  used once (milliseconds its change took, what it showed); printed to PDF (seconds, pages).

Nothing here asserts a time; the figures are for docs/performance.md. Use ``nice``: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402
from run import ON, extract_dir  # noqa: E402

CHECK = """(function(){
var t0=performance.now();
var nav=performance.getEntriesByType('navigation')[0],
    paint=performance.getEntriesByType('paint').filter(function(p){
      return p.name==='first-contentful-paint';})[0];
var box=document.getElementById('matrix-box'),b=box.getBoundingClientRect(),
    heads=box.querySelectorAll('th.col'),last=heads[heads.length-1],
    r=last.getBoundingClientRect();
function shown(sel){return Array.prototype.filter.call(document.querySelectorAll(sel),
  function(e){return e.offsetParent!==null;}).length;}
var res={dom_content_loaded_ms:nav.domContentLoadedEventEnd,load_end_ms:nav.loadEventEnd,
  first_contentful_paint_ms:paint?paint.startTime:null,
  elements:document.getElementsByTagName('*').length,
  width:window.innerWidth,last_column:last.textContent,
  last_column_visible:r.width>0&&r.left>=b.left-0.5&&r.right<=b.right+0.5&&
    r.right<=window.innerWidth,
  page_overflows:document.documentElement.scrollWidth>window.innerWidth,
  drill_rows:shown('#drill tbody tr'),
  example_accounts:window.deprulesReport.data.rows.length,filters:[]};
function use(id,pick){var el=document.getElementById(id);if(!el)return;
  var v=pick(el);el.value=v;var s=performance.now();
  el.dispatchEvent(new Event('change'));
  res.filters.push({filter:id,value:v,ms:performance.now()-s,
    drill_rows:shown('#drill tbody tr'),transitions:shown('#transitions-list tbody tr'),
    status:document.getElementById('drill-status').textContent});
  el.value='';el.dispatchEvent(new Event('change'));}
function second(el){return el.options[Math.min(1,el.options.length-1)].value;}
function most(key){return function(el){  // the class with the most changed accounts
  var by={};window.deprulesReport.data.transitions.forEach(function(t){
    for(var c in t[3])for(var d in t[3][c]){var k=key==='customer'?c:d;
      by[k]=(by[k]||0)+t[3][c][d];}});
  var best='',n=-1;
  Array.prototype.forEach.call(el.options,function(o){
    if(o.value&&by[o.value]>n){n=by[o.value];best=o.value;}});return best;};}
use('f-class',most('customer'));use('f-dclass',most('deposit'));use('f-transition',second);
use('f-moved',function(){return 'outcome';});
var more=document.getElementById('drill-more');
if(more&&!more.hidden){var s=performance.now();more.click();
  res.show_more={ms:performance.now()-s,drill_rows:shown('#drill tbody tr')};}
res.checks_ms=performance.now()-t0;
return res;})()"""


def simulate(folder: Path, out: Path, horizon: int) -> dict:
    exe = Path(sys.executable).with_name("deprules")
    cmd = [str(exe) if exe.exists() else "deprules", "simulate", "--extract", str(folder),
           "--as-of", ON.isoformat(), "--whatif", "examples/whatif", "--horizon",
           str(horizon), "--out", str(out)]
    t = time.perf_counter()
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        code = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
    if code:
        raise SystemExit(f"deprules simulate failed ({code}):\n{err}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024}


def in_browser(html: Path, width: int, height: int) -> dict:
    with browser.Page(width, height) as page:
        load = page.open(html)
        res = page.evaluate(CHECK)
        page.print_media()
        t = time.perf_counter()
        pdf = page.pdf()
        res["pdf_s"] = time.perf_counter() - t
        res["pdf_bytes"] = len(pdf)
        res["pdf_pages"] = len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))
        res["open_to_load_s"] = load
        res["errors"] = page.errors
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--out", type=Path, help="keep the simulate output here")
    ap.add_argument("--json", type=Path, help="write the figures as JSON")
    args = ap.parse_args(argv)
    folder = extract_dir(args.accounts, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "out"
        fig: dict = {"accounts": args.accounts, "seed": args.seed, "horizon": args.horizon,
                     "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load "
                                f"{os.getloadavg()[0]:.1f}",
                     "simulate": simulate(folder, out, args.horizon)}
        html = out / "report.html"
        fig["report_html_bytes"] = html.stat().st_size
        fig["impact_json_bytes"] = (out / "impact.json").stat().st_size
        fig["browser"] = in_browser(html, args.width, 1000)
    print(json.dumps(fig, indent=2))
    if args.json:
        args.json.write_text(json.dumps(fig, indent=2) + "\n")
    b = fig["browser"]
    ok = (not b["errors"] and b["last_column_visible"] and not b["page_overflows"]
          and all(f["drill_rows"] <= 50 for f in b["filters"]))
    print(f"\n{args.accounts:,} accounts, --horizon {args.horizon}: simulate "
          f"{fig['simulate']['wall_s']:.1f} s wall; report.html "
          f"{fig['report_html_bytes'] / 1e3:,.0f} kB, impact.json "
          f"{fig['impact_json_bytes'] / 1e3:,.0f} kB; Chromium load "
          f"{b['open_to_load_s']:.2f} s (load event end {b['load_end_ms']:.0f} ms), "
          f"{b['elements']:,} elements, {b['drill_rows']} of {b['example_accounts']} example "
          f"accounts in the page; PDF {b['pdf_pages']} pages in {b['pdf_s']:.1f} s; "
          f"{'OK' if ok else 'PROBLEM'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
