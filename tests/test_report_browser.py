"""report.html in a real headless browser (Debian's Chromium, driven directly): no script
errors, the transition matrix fits at 1400 px, the filters (customer class, deposit class,
transition, kind) change what is shown, the drill-down pages its accounts, the printed page
(print media, A4 landscape, and a PDF) keeps tables and charts on the page, and a
screenshot is written. Skipped, with the reason, where no Chromium is installed (.ci/run
installs it)."""

from __future__ import annotations

from pathlib import Path

import re

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
                      overlays=[root / "examples" / "whatif"], horizon=6,
                      # commercial accounts change too: two deposit classes in the drill-down
                      sets=["deposit_classes.COM.refund_criteria.hold_months=36"])
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
var fd=document.getElementById('f-dclass');
function counts(){return Array.prototype.filter.call(
  document.querySelectorAll('#transitions-list tbody tr'),function(r){
    return r.offsetParent!==null;}).map(function(r){return r.cells[2].textContent;});}
res.counts_all=counts();
function cells(){return Array.prototype.map.call(
  document.querySelectorAll('#matrix-box td[data-k]'),function(td){return td.textContent;});}
function total(){return Array.prototype.map.call(
  document.querySelectorAll('#matrix-box td.total'),function(td){return td.textContent;});}
res.matrix_all=cells();res.totals_all=total();
fd.value='COM';fd.dispatchEvent(new Event('change'));
res.matrix_com=cells();res.totals_com=total();
res.note=document.getElementById('matrix-note').hidden?'':
  document.getElementById('matrix-note').textContent;
res.dcom=visible('#drill tbody tr');res.dcom_counts=counts();
res.dcom_rows=Array.prototype.every.call(document.querySelectorAll('#drill tbody tr'),
  function(r){return r.getAttribute('data-dclass')==='COM'&&r.offsetParent!==null;});
res.dcom_classes=visible('#deposit-classes tbody tr');
fd.value='';fd.dispatchEvent(new Event('change'));
res.matrix_back=cells();res.totals_back=total();
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
    # the deposit class filter: only COM accounts, COM's row, COM's counts per transition
    assert 0 < r["dcom"] < r["all"] and r["dcom_rows"] and r["dcom_classes"] == 1, r
    assert r["dcom_counts"] != r["counts_all"] and len(r["dcom_counts"]) >= 1, r
    # the matrix follows the class filter: changed cells count COM's accounts, the totals
    # (not broken down by class) are blanked, and clearing the filter restores it all
    assert r["matrix_com"] != r["matrix_all"] and "deposit class COM" in r["note"], r
    assert set(r["totals_com"]) == {"\u2014"} and r["totals_all"] == r["totals_back"], r
    assert r["matrix_back"] == r["matrix_all"], r
    com = [int(x.split()[0].replace(",", "")) if x else 0 for x in r["matrix_com"]]
    assert sum(com) == sum(int(x.replace(",", "")) for x in r["dcom_counts"]), r


def test_matrix_fits_at_1400_px_with_a_million_accounts_counts(report, tmp_path):
    """The matrix of a large extract: the demo's transitions with every count scaled to
    millions (wider cells, and the diagonal's money/timing notes) still fits its box at
    1,400 px, its last column visible."""
    import json

    from deprules.simulate.report_html import render_html

    impact = json.loads((report.parent / "impact.json").read_text())
    scale = 12_345
    impact["transitions"] = {f: {t: n * scale for t, n in row.items()}
                             for f, row in impact["transitions"].items()}
    for t in impact["examples"]:
        t["accounts"] *= scale
    big = tmp_path / "report.html"
    big.write_text(render_html(impact, "scaled"))
    out = browser.evaluate(big, CHECK.split("res.all=")[0] + "return res;", width=1400)
    r = out["result"]
    assert out["errors"] == [] and r["fits"] and r["last"] == "total" and r["last_inside"], r
    assert not r["overflow"], r


PAGED = """
var R=window.deprulesReport,more=document.getElementById('drill-more');
function rows(){return document.querySelectorAll('#drill tbody tr').length;}
var res={total:R.data.rows.length,first:rows(),more_hidden:more.hidden};
R.data.page=4;R.apply();res.paged=rows();res.more_shown=!more.hidden;res.label=more.textContent;
more.click();res.after_more=rows();
var th=document.querySelector('#drill th[data-key="rb"]');th.click();
var v=Array.prototype.map.call(document.querySelectorAll('#drill tbody tr'),
  function(r){return parseInt(r.cells[4].getAttribute('data-v'),10);});
res.sorted=v.every(function(x,i){return i===0||v[i-1]<=x;});res.sorted_n=v.length;
th.click();var w=Array.prototype.map.call(document.querySelectorAll('#drill tbody tr'),
  function(r){return parseInt(r.cells[4].getAttribute('data-v'),10);});
res.desc=w.every(function(x,i){return i===0||w[i-1]>=x;});
res.ids=Array.prototype.map.call(document.querySelectorAll('#drill tbody tr'),
  function(r){return r.cells[0].textContent;});
window.dispatchEvent(new Event('beforeprint'));res.printing=rows();
res.caption=document.getElementById('drill-caption').textContent;
window.dispatchEvent(new Event('afterprint'));res.printed=rows();
return res;
"""


def test_drilldown_pages_its_accounts(report):
    """The page holds at most a page of example accounts at once; "show more" adds the next
    page; sorting sorts every selected account, not only those shown."""
    out = browser.evaluate(report, PAGED)
    assert out["errors"] == [] and out["console"] == [], out
    r = out["result"]
    assert r["total"] > 8 and r["first"] == min(r["total"], 50) and r["more_hidden"], r
    assert r["paged"] == 4 and r["more_shown"] and "show 4 more" in r["label"], r
    assert r["after_more"] == 8 and r["sorted"] and r["desc"] and r["sorted_n"] == 8, r
    assert len(set(r["ids"])) == 8, r
    # printed: every selected account, and a caption saying what is shown (no filters)
    assert r["printing"] == r["total"] and r["printed"] == 8, r
    assert r["caption"].startswith("No filter. ") and f"{r['total']} of {r['total']}" in \
        r["caption"], r


# A4 landscape less the 12 mm margins of the print CSS, in CSS pixels (96 per inch)
PRINT_WIDTH = int((297 - 2 * 12) / 25.4 * 96)

PRINTED = """(function(){
var W=document.documentElement.clientWidth,wide=[];
document.querySelectorAll('main *').forEach(function(e){var r=e.getBoundingClientRect();
  if(r.width>0&&(r.right>W+0.5||r.left<-0.5))wide.push(e.tagName+(e.id?'#'+e.id:'')+' '+
    Math.round(r.left)+'..'+Math.round(r.right));});
var heads=document.querySelectorAll('#matrix-box th.col'),last=heads[heads.length-1],
    lr=last.getBoundingClientRect(),box=document.getElementById('matrix-box')
    .getBoundingClientRect();
var svgs=Array.prototype.map.call(document.querySelectorAll('main svg'),function(s){
  var r=s.getBoundingClientRect();return r.right<=W+0.5&&r.left>=-0.5;});
return {width:W,scroll:document.documentElement.scrollWidth,wide:wide.slice(0,10),
  last:last.textContent,last_inside:lr.right<=box.right+0.5&&lr.right<=W+0.5&&lr.width>0,
  svgs:svgs.length,svgs_inside:svgs.every(Boolean),
  filters_hidden:getComputedStyle(document.querySelector('.filters')).display==='none',
  caption_shown:document.getElementById('drill-caption').offsetParent!==null};
})()"""


def test_report_printed_to_pdf_keeps_tables_and_charts_on_the_page(report, tmp_path):
    """Print media at the printable width of the page the print CSS asks for (A4 landscape):
    no element reaches past the page, the matrix's last column is on it, the charts are
    whole; and Chromium prints a PDF of A4 landscape pages."""
    with browser.Page(1400, 1000) as page:
        page.open(report)
        page.print_media(PRINT_WIDTH)
        r = page.evaluate(PRINTED)
        # a page of 2 on screen; printing (Chromium fires beforeprint) shows every example
        page.evaluate("window.__printing=[];window.deprulesReport.data.page=2;"
                      "window.deprulesReport.apply();window.addEventListener('beforeprint',"
                      "function(){window.__printing.push(document.querySelectorAll("
                      "'#drill tbody tr').length);});1")
        pdf = page.pdf()
        printing, after, total = page.evaluate(
            "[window.__printing,document.querySelectorAll('#drill tbody tr').length,"
            "window.deprulesReport.data.rows.length]")
        assert page.errors == [], page.errors
    assert printing == [total] and after == 2 < total, (printing, after, total)
    assert r["width"] == PRINT_WIDTH and r["scroll"] <= PRINT_WIDTH, r
    assert r["wide"] == [], r
    assert r["last"] == "total" and r["last_inside"], r
    assert r["svgs"] >= 8 and r["svgs_inside"] and r["filters_hidden"], r
    assert r["caption_shown"], r
    assert pdf[:5] == b"%PDF-"
    (tmp_path / "report.pdf").write_bytes(pdf)
    pages = re.findall(rb"/Type\s*/Page(?![a-z])", pdf)
    boxes = {tuple(round(float(v)) for v in m) for m in re.findall(
        rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)}
    assert len(pages) >= 3, len(pages)
    assert boxes == {(842, 595)}, boxes  # A4 landscape in points


def test_report_screenshot(report, tmp_path):
    png = browser.screenshot(report, tmp_path / "report.png", 1400, 1200)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 3_000_000
