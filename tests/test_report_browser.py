"""report.html in a real headless browser (Debian's Chromium, driven directly): no script
errors, the transition matrix fits at 1400 px, the filters change what is shown, and a
screenshot is written. Skipped, with the reason, where no Chromium is installed (.ci/run
installs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import browser

pytestmark = pytest.mark.skipif(browser.chromium() is None, reason=(
    "no Chromium on this machine (apt-get install chromium; .ci/run installs it)"))


@pytest.fixture(scope="module")
def report(root, tmp_path_factory) -> Path:
    from datetime import date

    from deprules.simulate import simulate

    out = tmp_path_factory.mktemp("browser")
    result = simulate(root / "examples" / "extract", date(2026, 11, 21),
                      config_dir=root / "config", rules_dir=root / "rules",
                      overlays=[root / "examples" / "whatif"], horizon=6)
    result.write(out)
    return out / "report.html"


CHECK = """
var box=document.getElementById('matrix-box'), b=box.getBoundingClientRect();
var heads=box.querySelectorAll('th.col'), last=heads[heads.length-1];
var mh=Array.prototype.filter.call(heads,function(h){
  return h.textContent==='not_eligible_months_held';})[0];
function inside(el){var r=el.getBoundingClientRect();
  return r.width>0&&r.left>=b.left-0.5&&r.right<=b.right+0.5&&r.right<=window.innerWidth;}
function visible(sel){return Array.prototype.filter.call(document.querySelectorAll(sel),
  function(r){return r.offsetParent!==null;}).length;}
var res={width:window.innerWidth,fits:box.scrollWidth<=box.clientWidth,
  last:last.textContent,last_inside:inside(last),months_held_inside:!!mh&&inside(mh),
  overflow:document.documentElement.scrollWidth>window.innerWidth};
res.all=visible('#drill tbody tr');
var fc=document.getElementById('f-class');fc.value='COM';
fc.dispatchEvent(new Event('change'));res.com=visible('#drill tbody tr');
res.com_classes=visible('#classes tbody tr');
fc.value='';fc.dispatchEvent(new Event('change'));
var ft=document.getElementById('f-transition');ft.selectedIndex=1;
ft.dispatchEvent(new Event('change'));res.one=visible('#drill tbody tr');
res.one_t=ft.value;res.one_rows=Array.prototype.filter.call(
  document.querySelectorAll('#drill tbody tr'),function(r){return r.offsetParent!==null;}
).every(function(r){return r.getAttribute('data-t')===ft.value;});
res.status=document.getElementById('drill-status').textContent;
ft.value='';ft.dispatchEvent(new Event('change'));
var pick=document.querySelector('#matrix-box td[data-pick]');
pick.dispatchEvent(new MouseEvent('click',{bubbles:true}));
res.picked=ft.value===pick.getAttribute('data-pick');
var th=document.querySelector('#drill th.sort');
th.dispatchEvent(new MouseEvent('click',{bubbles:true}));
return res;
"""


@pytest.mark.parametrize("width", [1400, 1920])
def test_report_in_a_browser(report, width):
    out = browser.evaluate(report, CHECK, width=width)
    assert out["errors"] == [] and out["console"] == [], out
    r = out["result"]
    assert r["width"] == width
    assert r["fits"] and r["last"] == "total" and r["last_inside"], r
    assert r["months_held_inside"] and not r["overflow"], r
    assert 0 < r["com"] < r["all"] or r["com"] == 0 < r["all"], r  # the demo: COM unchanged
    assert r["com_classes"] == 1, r
    assert 0 < r["one"] <= r["all"] and r["one_rows"] and "example account" in r["status"], r
    assert r["picked"], r


def test_report_screenshot(report, tmp_path):
    png = browser.screenshot(report, tmp_path / "report.png", 1400, 1200)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 3_000_000
