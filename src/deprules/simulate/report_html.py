"""report.html: one self-contained page (inline CSS, SVG and one small script; no network).

Built only from the impact dict, so the page says exactly what impact.json says: every
figure is read from it (a delta or a cumulative sum shown is impact.json's own). Every
piece of text goes through :func:`html.escape`; the data the script reads is embedded as
JSON with ``<``, ``>`` and ``&`` escaped. Same impact -> same bytes (no clock, no random).

The page works without its script (tables, charts, glossary); the script adds sorting,
the filters and the drill-down from a transition to its example accounts.
"""

from __future__ import annotations

from decimal import Decimal

import json
from html import escape

from ..money import format_money, parse_total
from .outcomes import CATEGORIES, CATEGORY_LABELS

BASE_COLOR = "#8a97a8"   # baseline: grey-blue
CAND_COLOR = "#1f4e79"   # candidate: dark blue
# what a change means, not its sign
OUT_COLOR = "#c2571a"    # more cash paid out to customers (customer better off)
KEPT_COLOR = "#2b7a78"   # cash kept by the utility (customer waits or is worse off)
DEBT_COLOR = "#7a5ea8"   # deposit applied to the customer's debt
WORK_COLOR = "#b08900"   # a person must act (To Do)
NEUTRAL = "#5b6675"

# per money category: the meaning of an increase
CATEGORY_MEANING = {"refund_checks": ("out", "cash paid out by check: customers better off"),
                    "interest": ("out", "interest credited: customers better off"),
                    "applied_to_debt": ("debt", "deposit used to pay the customer's debt"),
                    "write_downs": ("kept", "small credits kept by the utility (and small "
                                            "debts forgiven)")}
KIND_COLOR = {"out": OUT_COLOR, "kept": KEPT_COLOR, "debt": DEBT_COLOR, "work": WORK_COLOR,
              "none": NEUTRAL}
KIND_WORDS = {"out": "cash out / customer better off", "kept": "cash kept / customer worse off",
              "debt": "applied to debt", "work": "needs a person", "none": "no money moves"}

GLOSSARY = [
    ("refunded_by_check", "out", "The deposit is refunded: the remaining credit (after any "
     "debt of the same deposit class was paid) is sent to the customer by check."),
    ("written_down", "kept", "A small residual was written down: a credit inside the band is "
     "kept by the utility, a debit inside it is forgiven. No check."),
    ("todo_", "work", "A To Do of that type was created (todo_DEPREF: refund by hand; "
     "todo_NCD-REDEEM: redeem the non-cash deposit; todo_WO-MANUAL: review the residual). "
     "A person must act."),
    ("applied_to_debt", "debt", "The whole deposit (with its interest) paid what the customer "
     "owed; it is closed at zero. No check."),
    ("closed_at_zero", "none", "Closed with nothing to refund and no debt to pay."),
    ("pending", "none", "On its way out but waiting (stop date, bill due date plus grace "
     "days, or postponed): refunded on a later run."),
    ("not_eligible_", "kept", "Stays active, the utility keeps the deposit: the refund "
     "criteria are not met. The suffix names the first failing condition, e.g. "
     "not_eligible_months_held (held less than hold_months), not_eligible_credit_rating "
     "(rating below the threshold), not_eligible_late_payments_12m."),
    ("untouched", "none", "The cycle leaves the deposit as it is (reactivated, pending start, "
     "closed or canceled)."),
    ("no_deposit", "none", "The account has no cash deposit."),
]

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2733;
margin:0;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:30px 0 10px;border-bottom:1px solid
#d8dde4;padding-bottom:4px}h3{font-size:14px;margin:14px 0 6px}
.muted{color:#5b6675}.small{font-size:12px}
.box{max-width:100%;overflow-x:auto;background:#fff;border:1px solid #e1e5ea;border-radius:4px}
.box>table{border:0}
table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border:1px solid #e1e5ea;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n,th.n{text-align:right;white-space:nowrap}
th.sort{cursor:pointer}th.sort:after{content:" \\2195";color:#98a2b0}
table.matrix th.col{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;
text-align:left;vertical-align:bottom;padding:8px 4px;font-weight:600}
table.matrix td.diag{background:#f2f4f7;color:#5b6675}
table.matrix td .small{white-space:normal;line-height:1.2}
table.matrix td.hot{background:#fdebd9;font-weight:600;cursor:pointer}
table.matrix td.hot:hover,table.matrix td.diag.click:hover{outline:2px solid #1f4e79}
table.matrix td.diag.click{cursor:pointer}
table.matrix td.dim{color:#9aa3ad}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
.meta dt{color:#5b6675}.meta dd{margin:0;overflow-wrap:anywhere}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 10px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin:0 5px -1px 0;border-radius:2px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:8px 12px;
min-width:160px;border-top:4px solid #c4cbd4}
.card b{display:block;font-size:19px}.card small{display:block;color:#5b6675}
.multi{display:flex;flex-wrap:wrap;gap:12px}
.panel{background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:6px 8px;
break-inside:avoid;page-break-inside:avoid}
.chip{display:inline-block;padding:0 6px;border-radius:9px;color:#fff;font-size:12px;
white-space:nowrap}
.filters{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;margin:8px 0;
background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:8px 10px}
.filters label{font-size:13px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
td code{white-space:nowrap;overflow-wrap:normal}td.id{white-space:nowrap}
svg text{font:12px system-ui,-apple-system,Segoe UI,Roboto,sans-serif;fill:#1d2733}
svg text.v{font-size:11px}svg text.ax{fill:#5b6675;font-size:11px}
details summary{cursor:pointer;color:#1f4e79;margin:6px 0}
tr.hidden{display:none}.printonly{display:none}
button{font:inherit;padding:3px 10px;border:1px solid #1f4e79;border-radius:4px;
background:#fff;color:#1f4e79;cursor:pointer}
@media print{
body{background:#fff;font-size:10.5px}main{max-width:none;padding:0}
@page{size:A4 landscape;margin:12mm}
.box{overflow:visible;border:0}
table{font-size:9.5px;max-width:100%}th,td{padding:2px 4px}
th,th.n{white-space:normal}th.sort:after{content:none}
td code,td .chip{white-space:normal;overflow-wrap:anywhere}td{overflow-wrap:break-word}
h2{break-after:avoid;page-break-after:avoid}
section,.panel,svg,tr{break-inside:avoid;page-break-inside:avoid}
.filters,.noprint{display:none}.printonly{display:block}
details>*{display:block}
tr.hidden{display:table-row}
}
"""

SCRIPT = r"""
(function(){
var data=JSON.parse(document.getElementById('deprules-data').textContent);
function num(t){var s=String(t).replace(/,/g,'');var v=parseFloat(s);return isNaN(v)?null:v;}
function fmt(n){return n.toLocaleString('en-US');}
document.querySelectorAll('table.sortable').forEach(function(tb){
  tb.querySelectorAll('th.sort').forEach(function(th){
    th.addEventListener('click',function(){
      var k=th.cellIndex,asc=th.getAttribute('data-dir')!=='asc';
      th.setAttribute('data-dir',asc?'asc':'desc');
      var body=tb.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=a.cells[k].getAttribute('data-v')||a.cells[k].textContent,
            y=b.cells[k].getAttribute('data-v')||b.cells[k].textContent,
            nx=num(x),ny=num(y),r;
        r=(nx!==null&&ny!==null)?nx-ny:(x<y?-1:x>y?1:0);
        return asc?r:-r;});
      rows.forEach(function(r){body.appendChild(r);});
    });});});
var fc=document.getElementById('f-class'),fd=document.getElementById('f-dclass'),
    ft=document.getElementById('f-transition'),fm=document.getElementById('f-moved'),
    more=document.getElementById('drill-more'),drill=document.getElementById('drill');
// the drill-down: every example account of impact.json is in data.rows; the page holds
// the ones the filters select, data.page at a time ("show more")
var rows=data.rows||[],limit=data.page||50,order=null;
function cmpText(a,b){return a<b?-1:a>b?1:0;}
function cmpMinor(a,b){var x=BigInt(a),y=BigInt(b);return x<y?-1:x>y?1:0;}
var KEYS={a:[3,cmpText],c:[1,cmpText],d:[2,cmpText],rb:[4,cmpMinor],rc:[5,cmpMinor],
  t:[0,function(a,b){return a-b;}]};
function tkey(k){var t=data.transitions[k];return t[0]+'\u2192'+t[1];}
function kindOk(k,m){var t=data.transitions[k];return !m||(m==='outcome')===(t[0]!==t[1]);}
function inClasses(k,c,d){  // changed accounts of transition k in the chosen classes
  var t=data.transitions[k],by=t[3],n=0,cc,dc;
  if(!c&&!d)return t[2];
  for(cc in by){if(c&&cc!==c)continue;
    for(dc in by[cc]){if(!d||dc===d)n+=by[cc][dc];}}
  return n;}
// the transition matrix under the class filters: a changed transition's cell counts the
// chosen classes' accounts (data.transitions[k][3]); unchanged accounts have no breakdown
// by class in impact.json, so the diagonal then shows only the money/timing changes
function matrix(c,d){
  var box=document.getElementById('matrix-box'),note=document.getElementById('matrix-note');
  if(!box)return;
  var on=!!(c||d);
  box.querySelectorAll('td').forEach(function(td){
    if(td.getAttribute('data-orig')===null)td.setAttribute('data-orig',td.innerHTML);
    if(!on){td.innerHTML=td.getAttribute('data-orig');td.classList.remove('dim');return;}
    var k=td.getAttribute('data-k'),diag=td.classList.contains('diag');
    if(td.classList.contains('total')){td.textContent='\u2014';td.classList.add('dim');return;}
    if(k===null){td.textContent='';td.classList.add('dim');return;}
    var n=inClasses(parseInt(k,10),c,d);td.classList.toggle('dim',n===0);
    td.innerHTML=n?(diag?'<div class="small">'+fmt(n)+' money/timing changed</div>':fmt(n)):'';
  });
  if(note){note.hidden=!on;var f=[];if(c)f.push('customer class '+c);
    if(d)f.push('deposit class '+d);
    note.textContent=on?'Showing '+f.join(' and ')+': accounts that changed only; '+
      'the totals column is not broken down by class.':'';}
}
function apply(keep){
  var c=fc?fc.value:'',d=fd?fd.value:'',t=ft?ft.value:'',m=fm?fm.value:'';
  if(!keep)limit=data.page||50;
  var accts=0;
  document.querySelectorAll('#transitions-list tbody tr').forEach(function(r){
    var k=parseInt(r.getAttribute('data-k'),10),n=inClasses(k,c,d),
        ok=(!t||r.getAttribute('data-t')===t)&&kindOk(k,m)&&n>0;
    var cell=r.cells[2];cell.textContent=fmt(n);cell.setAttribute('data-v',n);
    r.classList.toggle('hidden',!ok);if(ok)accts+=n;});
  matrix(c,d);
  document.querySelectorAll('#classes tbody tr').forEach(function(r){
    r.classList.toggle('hidden',!!c&&r.getAttribute('data-class')!==c);});
  document.querySelectorAll('#deposit-classes tbody tr').forEach(function(r){
    r.classList.toggle('hidden',!!d&&r.getAttribute('data-dclass')!==d);});
  var sel=rows.filter(function(x){return (!c||x[1]===c)&&(!d||x[2]===d)&&
    (!t||tkey(x[0])===t)&&kindOk(x[0],m);});
  if(order){var f=KEYS[order[0]];sel.sort(function(x,y){
    var r=f[1](x[f[0]],y[f[0]])||cmpText(x[3],y[3]);return order[1]?r:-r;});}
  var shown=sel.slice(0,limit);
  if(drill)drill.tBodies[0].innerHTML=shown.map(function(x){return x[6];}).join('');
  if(more){more.hidden=shown.length>=sel.length;
    more.textContent='show '+Math.min(data.page||50,sel.length-shown.length)+' more (of '+
      fmt(sel.length-shown.length)+' not shown)';}
  var s=document.getElementById('drill-status'),text=fmt(shown.length)+' of '+
    fmt(sel.length)+(sel.length===1?' example account':' example accounts')+' shown; '+
    fmt(accts)+(accts===1?' changed account':' changed accounts')+
    ' in the selected transitions and classes (every account: accounts.csv).';
  if(s)s.textContent=text;
  var cap=document.getElementById('drill-caption');  // the printed page has no filters
  if(cap){var f=[];[[fc,'customer class'],[fd,'deposit class'],[ft,'transition'],
    [fm,'kind']].forEach(function(p){if(p[0]&&p[0].value)f.push(p[1]+' '+
      p[0].options[p[0].selectedIndex].text);});
    cap.textContent=(f.length?'Filters: '+f.join(', ')+'. ':'No filter. ')+text;}
}
// printed, the drill-down holds every selected account (impact.json's examples: bounded)
var before=null;
window.addEventListener('beforeprint',function(){before=limit;limit=rows.length;apply(true);});
window.addEventListener('afterprint',function(){if(before!==null){limit=before;before=null;
  apply(true);}});
[fc,fd,ft,fm].forEach(function(e){if(e)e.addEventListener('change',function(){apply();});});
if(more)more.addEventListener('click',function(){limit+=data.page||50;apply(true);});
if(drill)drill.querySelectorAll('th.sort').forEach(function(th){
  th.addEventListener('click',function(){
    var k=th.getAttribute('data-key'),asc=!(order&&order[0]===k&&order[1]);
    order=[k,asc];th.setAttribute('data-dir',asc?'asc':'desc');apply(true);});});
document.querySelectorAll('[data-pick]').forEach(function(td){
  td.addEventListener('click',function(){
    if(ft){ft.value=td.getAttribute('data-pick');apply();
      document.getElementById('drilldown').scrollIntoView();}});});
if(fc||ft)apply();
window.deprulesReport={data:data,apply:apply};
})();
"""


def _e(x) -> str:
    return escape(str(x), quote=True)


def _num(n: int) -> str:
    return f"{n:,}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 account``, ``2 accounts``, ``12,000 accounts``."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _grouped(text: str) -> str:
    from .impact import grouped

    return grouped(text)


def _signed(text: str) -> str:
    g = _grouped(text)
    return g if g.startswith("-") or set(g) <= set("0.,") else "+" + g


def _fmt(v: int, mu: int) -> str:
    return _grouped(format_money(v, mu))


def _sfmt(v: int, mu: int) -> str:
    return _signed(format_money(v, mu))


def _short(v: int, mu: int) -> str:
    """A short money label for charts: 1.2M, 35.4k, 812.50 (display only)."""
    a = abs(v) / 10 ** mu
    sign = "-" if v < 0 else ""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= size:
            return f"{sign}{a / size:,.1f}{suffix}"
    return f"{sign}{a:,.{mu}f}" if a < 100 else f"{sign}{a:,.0f}"


def outcome_kind(outcome: str) -> str:
    for name, kind, _ in GLOSSARY:
        if outcome == name or (name.endswith("_") and outcome.startswith(name)):
            return kind
    return "none"


def _delta_kind(category: str, delta: int) -> str:
    """What a money delta means: an increase of refunds is cash out, a decrease cash kept."""
    if delta == 0:
        return "none"
    kind = CATEGORY_MEANING[category][0]
    if kind == "out":
        return "out" if delta > 0 else "kept"
    if kind == "kept":
        return "kept" if delta > 0 else "out"
    return kind


def _chip(kind: str, text: str) -> str:
    if kind == "none":
        return f'<span class="muted">{_e(text)}</span>'
    return (f'<span class="chip" style="background:{KIND_COLOR[kind]}" '
            f'title="{_e(KIND_WORDS[kind])}">{_e(text)}</span>')


def _legend(items: list[tuple[str, str]]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{_e(t)}</span>' for c, t in items) + "</div>"


def _meaning_legend() -> str:
    return _legend([(OUT_COLOR, "cash out: customers better off"),
                    (KEPT_COLOR, "cash kept by the utility: customers wait or are worse off"),
                    (DEBT_COLOR, "deposit applied to debt"), (WORK_COLOR, "needs a person")])


def _svg_open(w: int, h: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="{_e(label)}">')


# ---- charts ------------------------------------------------------------------------------
def pair_bars(title: str, base: int, cand: int | None, fmt, color_delta: str,
              delta_text: str, width: int = 540) -> str:
    """One category, its own scale: a baseline bar, a candidate bar, the values written
    (inside a reserved label area, never at the edge) and the delta."""
    label_w, value_w = 80, 120
    plot = width - label_w - value_w - 8
    rows = [("baseline", BASE_COLOR, base)] + ([("candidate", CAND_COLOR, cand)]
                                               if cand is not None else [])
    top = max([abs(v) for _, _, v in rows] + [1])
    h = 30 + 22 * len(rows) + (18 if cand is not None else 0)
    out = [_svg_open(width, h, title), f'<text x="4" y="16" font-weight="600">{_e(title)}</text>']
    for k, (name, color, v) in enumerate(rows):
        y = 26 + 22 * k
        w = plot * abs(v) / top
        out.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" class="ax">'
                   f'{name}</text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="16" fill="{color}">'
                   f'<title>{_e(name)}: {_e(fmt(v))}</title></rect>')
        out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" class="v">{_e(fmt(v))}'
                   "</text>")
    if cand is not None:
        out.append(f'<text x="{label_w}" y="{h - 5}" fill="{color_delta}" font-weight="600">'
                   f"change {_e(delta_text)}</text>")
    out.append("</svg>")
    return "".join(out)


def delta_bars(title: str, labels: list[str], values: list[int], cumulative: list[int],
               mu: int, category: str, width: int = 540, height: int = 240,
               span_text: str = "") -> str:
    """Candidate minus baseline per month (bars, coloured by meaning, values written) and
    the cumulative delta (line, its last value written); labelled axes."""
    left, right, top_pad, bottom = 64, 70, 40, 40
    pw, ph = width - left - right, height - top_pad - bottom
    rest = [abs(v) for v in values[1:]] or [0]
    # month 1 (the backlog) can dwarf the others: then the scale is the later months', the
    # first bar is clipped (marked, its value written) and the cumulative is written only
    clip = len(values) > 2 and abs(values[0]) > 3 * max(max(rest), 1)
    if clip:
        bound = max(max(rest), 1) * 1.25
        lo, hi = -bound if min(values[1:] + [0]) < 0 or values[0] < 0 else 0, bound
        if max(values[1:] + [0]) <= 0 and values[0] < 0:
            hi = max(max(values[1:] + [0]), 0) or bound * 0.25
    else:
        lo = min([0] + values + cumulative)
        hi = max([0] + values + cumulative)
    if lo == hi:
        hi = lo + 1
    span = hi - lo

    def y(v: int) -> float:
        return top_pad + ph * (hi - max(lo, min(hi, v))) / span

    n = len(values)
    slot = pw / max(n, 1)
    bw = min(34.0, slot * 0.62)
    out = [_svg_open(width, height, title),
           f'<text x="4" y="15" font-weight="600">{_e(title)}</text>',
           (f'<text x="{width - 4}" y="15" text-anchor="end" class="v" font-weight="600">'
            f"Σ all months {_e(_short(cumulative[-1], mu))}</text>" if clip and cumulative else
            f'<text x="{width - 4}" y="15" text-anchor="end" class="ax">'
            f"{_e(_legend_text())}</text>")]
    # y axis: the bounds and zero
    ticks = sorted({lo, 0, hi})
    for t in ticks:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="{"#7d8896" if t == 0 else "#e1e5ea"}"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" class="ax">'
                   f"{_e(_short(t, mu))}</text>")
    out.append(f'<text x="12" y="{top_pad + ph / 2:.1f}" class="ax" text-anchor="middle" '
               f'transform="rotate(-90 12 {top_pad + ph / 2:.1f})">candidate − baseline</text>')
    pts = []
    for k, v in enumerate(values):
        cx = left + slot * (k + 0.5)
        kind = _delta_kind(category, v)
        color = KIND_COLOR[kind]
        y0, y1 = sorted((y(0), y(v)))
        out.append(f'<rect x="{cx - bw / 2:.1f}" y="{y0:.1f}" width="{bw:.1f}" '
                   f'height="{max(y1 - y0, 0.0):.1f}" fill="{color}" opacity="0.85">'
                   f"<title>{_e(labels[k])}: {_e(_sfmt(v, mu))}</title></rect>")
        if v and not (clip and k == 0):
            ty = y(v) - 3 if v > 0 else y(v) + 11
            out.append(f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle" class="v">'
                       f"{_e(_short(v, mu))}</text>")
        out.append(f'<text x="{cx:.1f}" y="{top_pad + ph + 14}" text-anchor="middle" '
                   f'class="ax">{_e(labels[k])}</text>')
        pts.append((cx, y(cumulative[k])))
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 6}" text-anchor="middle" '
               f'class="ax">process date ({_e(span_text)})</text>')
    if clip:
        cx = left + slot * 0.5
        yy = y(values[0])
        out.append(f'<path d="M{cx - bw / 2 - 2:.1f} {yy + 4:.1f} l{bw / 4 + 1:.1f} -6 '
                   f'l{bw / 4 + 1:.1f} 6 l{bw / 4 + 1:.1f} -6 l{bw / 4 + 1:.1f} 6" '
                   'stroke="#fff" stroke-width="3" fill="none"/>')
        out.append(f'<text x="4" y="31" class="v">month 1 (the backlog) '
                   f"{_e(_sfmt(values[0], mu))}: its bar is cut to show the later months"
                   "</text>")
    elif pts:
        out.append('<polyline points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
                   + '" fill="none" stroke="#1d2733" stroke-width="1.5" '
                   'stroke-dasharray="5 3"/>')
        for (a, b), v, lab in zip(pts, cumulative, labels):
            out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="#1d2733"><title>'
                       f"cumulative to {_e(lab)}: {_e(_sfmt(v, mu))}</title></circle>")
        a, b = pts[-1]
        out.append(f'<text x="{a + 8:.1f}" y="{b + 4:.1f}" class="v" font-weight="600">'
                   f"Σ {_e(_short(cumulative[-1], mu))}</text>")
    out.append("</svg>")
    return "".join(out)


def _legend_text() -> str:
    return "bars: the month · dashed: cumulative"


def histogram(title: str, labels: list[str], series: list[tuple[str, str, list[int]]],
              xlabel: str, width: int = 540, height: int = 230,
              colors: list[str] | None = None) -> str:
    """Vertical bars per bin (grouped per series), counts written above, labelled axes."""
    left, right, top_pad, bottom = 44, 10, 30, 58
    pw, ph = width - left - right, height - top_pad - bottom
    top = max([max(v, default=0) for _, _, v in series] + [1])
    n = len(labels)
    slot = pw / max(n, 1)
    bw = slot * 0.8 / max(len(series), 1)
    out = [_svg_open(width, height, title),
           f'<text x="4" y="15" font-weight="600">{_e(title)}</text>',
           f'<line x1="{left}" x2="{left + pw}" y1="{top_pad + ph}" y2="{top_pad + ph}" '
           'stroke="#7d8896"/>',
           f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end" class="ax">{_num(top)}'
           "</text>",
           f'<text x="{left - 6}" y="{top_pad + ph + 4}" text-anchor="end" class="ax">0</text>',
           f'<text x="10" y="{top_pad + ph / 2:.1f}" class="ax" text-anchor="middle" '
           f'transform="rotate(-90 10 {top_pad + ph / 2:.1f})">accounts</text>',
           f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle" class="ax">'
           f"{_e(xlabel)}</text>"]
    for k, lab in enumerate(labels):
        x0 = left + slot * k + slot * 0.1
        for j, (name, color, values) in enumerate(series):
            v = values[k]
            c = colors[k] if colors else color
            hgt = ph * v / top
            x = x0 + j * bw
            out.append(f'<rect x="{x:.1f}" y="{top_pad + ph - hgt:.1f}" width="{bw - 1:.1f}" '
                       f'height="{hgt:.1f}" fill="{c}"><title>{_e(name)} {_e(lab)}: '
                       f"{_num(v)}</title></rect>")
            if v:
                out.append(f'<text x="{x + bw / 2:.1f}" y="{top_pad + ph - hgt - 3:.1f}" '
                           f'text-anchor="middle" class="v" font-size="10">{_short_n(v)}</text>')
        cx = left + slot * (k + 0.5)
        out.append(f'<text x="{cx:.1f}" y="{top_pad + ph + 13}" text-anchor="end" class="ax" '
                   f'transform="rotate(-30 {cx:.1f} {top_pad + ph + 13})">{_e(lab)}</text>')
    out.append("</svg>")
    return "".join(out)


def _short_n(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else (f"{n / 1e3:.1f}k" if n >= 1000 else f"{n:,}")


# ---- sections ------------------------------------------------------------------------------
def _change_words(c: dict) -> str:
    """``deposit_classes.RES.refund_criteria.hold_months: 12 -> 18`` in words."""
    parts = str(c["path"]).split(".")
    name = parts[-1].replace("_", " ")
    where = " ".join(p.replace("_", " ") for p in parts[:-1])
    a, b = c["baseline"], c["candidate"]
    verb = "changes from"
    try:  # values are decimal text (money, rates) or whole numbers: compared exactly
        da, db = Decimal(str(a)), Decimal(str(b))
        if da.is_finite() and db.is_finite():
            verb = "raised from" if db > da else "lowered from"
    except (TypeError, ValueError, ArithmeticError):
        pass
    if a is None:
        return f"{name} ({where}) is set to {b}"
    if b is None:
        return f"{name} ({where}) is removed (was {a})"
    return f"{name} ({where}) {verb} {a} to {b}"


def _header(impact: dict, source: str, has_c: bool) -> str:
    dates = impact.get("process_dates") or [impact["as_of"]]
    when = impact["as_of"]
    if len(dates) > 1:
        when += f" (monthly to {dates[-1]}, {plural(len(dates), 'process date')})"
    meta = [("as of", when), ("extract", source or "-"),
            ("accounts", plural(impact["accounts"], "account")),
            ("baseline configuration", impact["baseline"].get("config_hash", ""))]
    if has_c:
        meta.append(("candidate configuration", impact["candidate"].get("config_hash", "")))
    meta.append(("deprules", impact.get("deprules_version", "")))
    meta.append(("currency", f"{impact['currency']} (figures in major units)"))
    out = ['<header><h1>Deposit refund what-if: '
           f'{"baseline and candidate" if has_c else "baseline forecast"} on '
           f'{_e(impact["as_of"])}</h1><dl class="meta">']
    out += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta]
    out.append("</dl>")
    if has_c:
        changes = impact["candidate"]["changes"]
        if changes:
            out.append(f"<h3>The candidate changes {plural(len(changes), 'value')}</h3><ul>")
            out += [f"<li>{_e(_change_words(c))} <span class='muted small'><code>"
                    f"{_e(c['path'])}</code></span></li>" for c in changes]
            out.append("</ul>")
        else:
            out.append("<p>The candidate equals the baseline.</p>")
    out.append("</header>")
    return "".join(out)


def _cards(impact: dict, has_c: bool) -> str:
    mu = impact["minor_units"]
    cards = []
    if has_c:
        cards.append(("changed accounts", _num(impact["changed_accounts"]),
                      f"of {plural(impact['accounts'], 'account')}", "#c4cbd4"))
        cards.append(("money changed for", _num(impact["changed_money_accounts"]),
                      f"{plural(impact['changed_label_only_accounts'], 'account')} changed "
                      "only the outcome's name (the same money)", "#c4cbd4"))
        for c in CATEGORIES:
            d = parse_total(impact["money"][c]["delta"], mu)
            kind = _delta_kind(c, d)
            cards.append((f"{CATEGORY_LABELS[c]} change", _sfmt(d, mu),
                          KIND_WORDS[kind], KIND_COLOR[kind]))
    else:
        for c in CATEGORIES:
            cards.append((CATEGORY_LABELS[c], _grouped(impact["money"][c]["baseline"]), "",
                          "#c4cbd4"))
    return '<div class="cards">' + "".join(
        f'<div class="card" style="border-top-color:{col}"><span class="muted">{_e(k)}</span>'
        f"<b>{_e(v)}</b><small>{_e(s)}</small></div>" for k, v, s, col in cards) + "</div>"


def _money(impact: dict, has_c: bool) -> str:
    mu = impact["minor_units"]
    panels, rows = [], []
    for c, e in impact["money"].items():
        b = parse_total(e["baseline"], mu)
        cand = parse_total(e["candidate"], mu) if has_c else None
        d = parse_total(e["delta"], mu) if has_c else 0
        kind = _delta_kind(c, d)
        panels.append('<div class="panel">' + pair_bars(
            CATEGORY_LABELS[c], b, cand, lambda v: _fmt(v, mu), KIND_COLOR[kind],
            f"{_sfmt(d, mu)} ({KIND_WORDS[kind]})" if d else "none") + "</div>")
        cells = (f"<td>{_e(CATEGORY_LABELS[c])}<div class='muted small'>"
                 f"{_e(CATEGORY_MEANING[c][1])}</div></td><td class='n'>{_e(_fmt(b, mu))}</td>")
        if has_c:
            cells += (f"<td class='n'>{_e(_fmt(cand, mu))}</td><td class='n'>"
                      f"{_chip(kind, _sfmt(d, mu))}</td>")
        rows.append(f"<tr>{cells}</tr>")
    head = (f"<tr><th>{_e(impact['currency'])}</th><th class='n'>baseline</th>"
            + ("<th class='n'>candidate</th><th class='n'>change</th>" if has_c else "")
            + "</tr>")
    return ('<section id="money"><h2>Money by category</h2>'
            '<p class="muted">Each chart has its own scale, so small categories are '
            "readable; the values are written. Colours say what a change means.</p>"
            + _legend([(BASE_COLOR, "baseline"), (CAND_COLOR, "candidate")] if has_c else
                      [(BASE_COLOR, "baseline")])
            + f'<div class="multi">{"".join(panels)}</div>'
            + (_meaning_legend() if has_c else "")
            + f'<div class="box"><table>{head}{"".join(rows)}</table></div></section>')


def _outcomes(impact: dict, has_c: bool) -> str:
    rows = []
    top = max([max(e.values()) if not has_c else max(e["baseline"], e["candidate"])
               for e in impact["outcomes"].values()] + [1])
    for o, e in impact["outcomes"].items():
        kind = outcome_kind(o)
        wb = 160 * e["baseline"] / top
        bars = (f'<svg xmlns="http://www.w3.org/2000/svg" width="170" height="'
                f'{22 if has_c else 12}" role="img" aria-label="{_e(o)}">'
                f'<rect x="0" y="0" width="{wb:.1f}" height="9" fill="{BASE_COLOR}"/>')
        if has_c:
            wc = 160 * e["candidate"] / top
            bars += f'<rect x="0" y="11" width="{wc:.1f}" height="9" fill="{CAND_COLOR}"/>'
        bars += "</svg>"
        cells = (f'<td><code>{_e(o)}</code></td><td class="n" data-v="{e["baseline"]}">'
                 f'{_num(e["baseline"])}</td>')
        if has_c:
            d = e["delta"]
            # more accounts with this outcome: its kind; fewer: the opposite for money kinds
            k = kind if d > 0 else ({"out": "kept", "kept": "out"}.get(kind, kind) if d
                                    else "none")
            cells += (f'<td class="n" data-v="{e["candidate"]}">{_num(e["candidate"])}</td>'
                      f'<td class="n" data-v="{d}">{_chip(k, f"{d:+,}" if d else "0")}</td>')
        cells += f"<td>{bars}</td>"
        rows.append(f"<tr>{cells}</tr>")
    head = ("<thead><tr><th class='sort'>outcome</th><th class='n sort'>baseline</th>"
            + ("<th class='n sort'>candidate</th><th class='n sort'>change</th>" if has_c
               else "") + "<th></th></tr></thead>")
    return ('<section id="outcomes"><h2>Accounts by outcome</h2>'
            + _legend([(BASE_COLOR, "baseline"), (CAND_COLOR, "candidate")] if has_c else
                      [(BASE_COLOR, "baseline")])
            + f'<div class="box"><table class="sortable">{head}<tbody>{"".join(rows)}'
            "</tbody></table></div></section>")


def _classes(impact: dict, has_c: bool, key: str = "by_customer_class",
             what: str = "customer class", section: str = "classes", attr: str = "data-class",
             intro: str = "") -> str:
    mu = impact["minor_units"]
    head = (f"<thead><tr><th class='sort'>{_e(what)}</th><th class='n sort'>accounts</th>"
            + ("<th class='n sort'>changed</th>" if has_c else ""))
    for c in CATEGORIES:
        head += f"<th class='n sort'>{_e(CATEGORY_LABELS[c])}</th>"
        if has_c:
            head += f"<th class='n sort'>{_e(CATEGORY_LABELS[c])} change</th>"
    head += "</tr></thead>"
    rows = []
    for cls, d in (impact.get(key) or {}).items():
        cells = (f'<td>{_e(cls)}</td><td class="n" data-v="{d["accounts"]}">'
                 f'{_num(d["accounts"])}</td>')
        if has_c:
            cells += (f'<td class="n" data-v="{d["changed_accounts"]}">'
                      f'{_num(d["changed_accounts"])}</td>')
        for c in CATEGORIES:
            e = d["money"][c]
            side = "candidate" if has_c else "baseline"
            cells += f'<td class="n">{_e(_grouped(e[side]))}</td>'
            if has_c:
                v = parse_total(e["delta"], mu)
                cells += (f'<td class="n" data-v="{_e(e["delta"])}">'
                          f"{_chip(_delta_kind(c, v), _sfmt(v, mu))}</td>")
        rows.append(f'<tr {attr}="{_e(cls)}">{cells}</tr>')
    note = (" Money columns: the candidate, and its change from the baseline." if has_c
            else "")
    return (f'<section id="{section}"><h2>By {_e(what)}</h2><p class="muted">{intro}Click a '
            f"heading to sort.{note}</p>"
            f'<div class="box"><table class="sortable">{head}<tbody>{"".join(rows)}'
            "</tbody></table></div></section>")


def _deposit_classes(impact: dict, has_c: bool) -> str:
    if "by_deposit_class" not in impact:
        return ""
    return _classes(impact, has_c, "by_deposit_class", "deposit class", "deposit-classes",
                    "data-dclass", "An account's deposit class is the class of its cash "
                    "deposits (two classes: both, as <code>COM+RES</code>; "
                    "<code>none</code>: no cash deposit). ")


def _changed_counts(impact: dict) -> dict[tuple[str, str], int]:
    return {(t["from"], t["to"]): t["accounts"] for t in impact.get("examples") or []}


def _changed_index(impact: dict) -> dict[tuple[str, str], int]:
    """(from, to) -> its index in the script's data.transitions (impact.json's examples)."""
    return {(t["from"], t["to"]): k for k, t in enumerate(impact.get("examples") or [])}


def _transitions(impact: dict) -> str:
    matrix = impact["transitions"]
    froms = list(matrix)
    tos = [o for o in impact["outcomes"] if any(o in row for row in matrix.values())]
    changed = _changed_counts(impact)
    index = _changed_index(impact)
    head = ('<tr><th>baseline ↓ / candidate →</th>' + "".join(
        f'<th class="col">{_e(t)}</th>' for t in tos) + '<th class="col">total</th></tr>')
    rows = []
    for f in froms:
        cells = f"<th>{_e(f)}</th>"
        for t in tos:
            n = matrix[f].get(t, 0)
            k = changed.get((f, t), 0)
            pick = (f' data-pick="{_e(f)}→{_e(t)}" data-k="{index[(f, t)]}"'
                    if k else "")
            if f == t:
                text = _num(n) if n else ""
                if k:
                    text += f'<div class="small">{_e(_num(k))} money/timing changed</div>'
                cells += (f'<td class="n diag{" click" if k else ""}"{pick} '
                          f'title="{_e(f)}: {_e(plural(n, "account"))}">{text}</td>')
            else:
                cells += (f'<td class="n{" hot" if n else ""}"{pick} title="{_e(f)} → '
                          f'{_e(t)}: {_e(plural(n, "account"))}">'
                          f'{_num(n) if n else ""}</td>')
        cells += f'<td class="n total">{_num(sum(matrix[f].values()))}</td>'
        rows.append(f"<tr>{cells}</tr>")
    return ('<section id="transitions"><h2>Transitions: baseline → candidate</h2>'
            '<p class="muted">Each account counted once: its outcome under the baseline (row) '
            "and under the candidate (column). Highlighted cells are accounts the change "
            "moves to another outcome; grey diagonal cells keep their outcome, and the "
            "accounts among them whose money or timing changed (the same outcome with "
            "another amount or in another month) are counted under the number. Click a cell "
            'to see its accounts below. With a customer or deposit class chosen above the '
            'drill-down, the cells count that class\'s accounts that changed (impact.json '
            'breaks changes down by class; accounts that keep outcome and money are counted '
            'per class in the class tables only).</p>'
            '<p class="muted" id="matrix-note" hidden></p><div class="box" id="matrix-box">'
            '<table class="transitions matrix">'
            f'{head}{"".join(rows)}</table></div></section>')


def _monthly(impact: dict, has_c: bool) -> str:
    months = impact["monthly"]
    mu = impact["minor_units"]
    names = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    labels = [names[int(m["process_date"][5:7]) - 1] for m in months]
    span_text = f'{months[0]["process_date"]} to {months[-1]["process_date"]}' 
    parts = ['<section id="monthly"><h2>Monthly projection</h2>']
    if has_c:
        parts.append('<p class="muted">The same cycle on each process date, the state '
                     "carried forward. What a decision needs: the candidate minus the "
                     "baseline in each month (bars, values written) and summed from month "
                     "1 (Σ: the dashed line, or top right when month 1 is cut). Month 1 "
                     "holds the backlog the change acts on at once; the later months show "
                     "whether it is only a delay."
                     "</p>" + _meaning_legend())
        charts = []
        for c in CATEGORIES:
            vals = [parse_total(m["delta"][c], mu) for m in months]
            cum = [parse_total(m["cumulative_delta"][c], mu) for m in months]
            charts.append('<div class="panel">' + delta_bars(
                f"{CATEGORY_LABELS[c]}: change per month", labels, vals, cum, mu, c,
                span_text=span_text)
                + "</div>")
        parts.append(f'<div class="multi">{"".join(charts)}</div>')
        head = ("<tr><th>month</th><th>process date</th>" + "".join(
            f"<th class='n'>{_e(CATEGORY_LABELS[c])} Δ</th><th class='n'>Σ</th>"
            for c in CATEGORIES) + "</tr>")
        rows = []
        for m in months:
            cells = f'<td class="n">{m["month"]}</td><td>{_e(m["process_date"])}</td>'
            for c in CATEGORIES:
                v = parse_total(m["delta"][c], mu)
                s = parse_total(m["cumulative_delta"][c], mu)
                cells += (f'<td class="n">{_chip(_delta_kind(c, v), _sfmt(v, mu))}</td>'
                          f'<td class="n">{_e(_sfmt(s, mu))}</td>')
            rows.append(f"<tr>{cells}</tr>")
        parts.append('<h3>Candidate minus baseline (Δ: the month, Σ: to date)</h3>'
                     f'<div class="box"><table>{head}{"".join(rows)}</table></div>')
    head = ("<tr><th>month</th><th>process date</th>" + "".join(
        f"<th class='n'>{_e(CATEGORY_LABELS[c])}</th>" for c in CATEGORIES)
        + "<th class='n'>refunded by check (accounts, to date)</th></tr>")
    rows = []
    for m in months:
        cells = f'<td class="n">{m["month"]}</td><td>{_e(m["process_date"])}</td>'
        for c in CATEGORIES:
            text = _grouped(m["baseline"]["money"][c])
            if has_c:
                text += f" / {_grouped(m['candidate']['money'][c])}"
            cells += f'<td class="n">{_e(text)}</td>'
        text = _num(m["baseline"]["outcomes"].get("refunded_by_check", 0))
        if has_c:
            text += f" / {_num(m['candidate']['outcomes'].get('refunded_by_check', 0))}"
        cells += f'<td class="n">{_e(text)}</td>'
        rows.append(f"<tr>{cells}</tr>")
    note = "baseline / candidate" if has_c else "baseline"
    levels = (f'<div class="box"><table>{head}{"".join(rows)}</table></div>')
    if has_c:
        parts.append(f"<details><summary>Money moved in each month ({_e(note)})</summary>"
                     f"{levels}</details>")
    else:
        parts.append(f'<p class="muted">Money moved in each month ({_e(note)}).</p>{levels}')
    parts.append("</section>")
    return "".join(parts)


def _bin_label(b: dict, mu: int) -> str:
    lo = parse_total(b["lower"], mu) if b["lower"] is not None else None
    hi = parse_total(b["upper"], mu) if b["upper"] is not None else None
    if lo == 0 and hi == 1:
        return "no change"
    if lo is None:
        return f"below {_short(hi, mu)}"
    if hi is None:
        return f"{_short(lo, mu)} or more"
    return f"{_short(lo, mu)} to {_short(hi, mu)}"


def _distributions(impact: dict, has_c: bool) -> str:
    dist = impact.get("distributions")
    if not dist:
        return ""
    mu = impact["minor_units"]
    cur = impact["currency"]
    ra = dist["refund_amounts"]
    labels = [_bin_label(b, mu) for b in ra]
    series = [("baseline", BASE_COLOR, [b["baseline"] for b in ra])]
    if has_c:
        series.append(("candidate", CAND_COLOR, [b["candidate"] for b in ra]))
    charts = ['<div class="panel">' + histogram(
        "Refund checks per refunded account", labels, series, f"refund ({cur})") + "</div>"]
    if has_c and dist.get("refund_changes"):
        rc = dist["refund_changes"]
        colors = []
        for b in rc:
            lo = parse_total(b["lower"], mu) if b["lower"] is not None else -1
            hi = parse_total(b["upper"], mu) if b["upper"] is not None else 1
            colors.append(KEPT_COLOR if hi <= 0 else (OUT_COLOR if lo > 0 else NEUTRAL))
        charts.append('<div class="panel">' + histogram(
            "Change of refund checks per changed account", [_bin_label(b, mu) for b in rc],
            [("changed accounts", NEUTRAL, [b["accounts"] for b in rc])],
            f"candidate − baseline ({cur})", colors=colors) + "</div>")
    legend = (_legend([(BASE_COLOR, "baseline"), (CAND_COLOR, "candidate"),
                       (KEPT_COLOR, "smaller refund"), (OUT_COLOR, "larger refund"),
                       (NEUTRAL, "same refund (other money or outcome changed)")])
              if has_c else "")
    return ('<section id="distributions"><h2>Distributions</h2><p class="muted">Accounts per '
            "bin of money (bin: from the lower bound up to, not including, the upper)."
            f'</p>{legend}<div class="multi">{"".join(charts)}</div></section>')


DRILL_PAGE = 50  # example accounts the drill-down puts in the page at a time


def _drill_row(impact: dict, t: dict, a: dict) -> tuple[str, int, int]:
    """One example account as a table row, and its refund before and after (minor units)."""
    mu = impact["minor_units"]
    key = f'{t["from"]}→{t["to"]}'
    mb, mc = a.get("money_baseline"), a.get("money_candidate")
    money = []
    for c in CATEGORIES:
        if mb and mc:
            b, cv = parse_total(mb[c], mu), parse_total(mc[c], mu)
            if b == cv and not b:
                continue
            txt = (f"{CATEGORY_LABELS[c]} {_fmt(b, mu)}" if b == cv else
                   f"{CATEGORY_LABELS[c]} {_fmt(b, mu)} → {_fmt(cv, mu)}")
            kind = _delta_kind(c, cv - b)
            money.append(_chip(kind, txt) if kind != "none" else _e(txt))
        elif c in a["money_delta"]:
            money.append(_e(f"{CATEGORY_LABELS[c]} {_signed(a['money_delta'][c])}"))
    refund_b = parse_total(mb["refund_checks"], mu) if mb else 0
    refund_c = parse_total(mc["refund_checks"], mu) if mc else 0
    dc = a.get("deposit_class", "")
    html = (f'<tr data-t="{_e(key)}" data-class="{_e(a["customer_class"])}" '
            f'data-dclass="{_e(dc)}" data-from="{_e(t["from"])}" data-to="{_e(t["to"])}">'
            f'<td class="id">{_e(a["account_id"])}</td><td>{_e(a["customer_class"])}</td>'
            f"<td>{_e(dc)}</td>"
            f'<td><code>{_e(t["from"])}</code> → <code>{_e(t["to"])}</code></td>'
            f'<td class="n" data-v="{refund_b}">{_e(_fmt(refund_b, mu))}</td>'
            f'<td class="n" data-v="{refund_c}">{_e(_fmt(refund_c, mu))}</td>'
            f'<td class="small">{"<br>".join(money) or "-"}</td>'
            f'<td class="small">{_e(a.get("reason") or "")}<div class="muted"><code>'
            f'{_e(_rule_text(a["rule_baseline"], t["from"]))} → '
            f'{_e(_rule_text(a["rule_candidate"], t["to"]))}</code></div></td></tr>')
    return html, refund_b, refund_c


def _drill_rows(impact: dict) -> list[list]:
    """Every example account of impact.json, for the script: [transition index, customer
    class, deposit class, account id, refund before, refund after (minor units, as text:
    exact beyond 2**53), row html], transitions in impact.json's order, accounts by id."""
    out = []
    for k, t in enumerate(impact.get("examples") or []):
        for a in t["examples"]:
            html, rb, rc = _drill_row(impact, t, a)
            out.append([k, a["customer_class"], a.get("deposit_class", ""), a["account_id"],
                        str(rb), str(rc), html])
    return out


def _drilldown(impact: dict) -> str:
    ex = impact.get("examples") or []
    if not ex:
        return ('<section id="drilldown"><h2>Accounts by transition</h2><p>No account '
                "changes outcome or money.</p></section>")
    classes = list(impact["by_customer_class"])
    opts_c = "".join(f'<option value="{_e(c)}">{_e(c)}</option>' for c in classes)
    dclasses = list(impact.get("by_deposit_class") or {})
    opts_d = "".join(f'<option value="{_e(c)}">{_e(c)}</option>' for c in dclasses)
    opts_t = "".join(f'<option value="{_e(t["from"])}→{_e(t["to"])}">{_e(t["from"])} → '
                     f'{_e(t["to"])} ({_e(plural(t["accounts"], "account"))})</option>'
                     for t in ex)
    filters = ('<div class="filters noprint"><label>customer class <select id="f-class">'
               f'<option value="">all</option>{opts_c}</select></label>'
               + ('<label>deposit class <select id="f-dclass"><option value="">all</option>'
                  f"{opts_d}</select></label>" if dclasses else "")
               + '<label>transition <select id="f-transition"><option value="">all</option>'
               f"{opts_t}</select></label>"
               '<label>kind <select id="f-moved"><option value="">all</option>'
               '<option value="outcome">outcome changes</option>'
               '<option value="timing">same outcome, money or timing changed</option>'
               '</select></label><span class="muted small" id="drill-status"></span></div>')
    from .impact import EXAMPLES_PER_TRANSITION as per

    trows = []
    for k, t in enumerate(ex):
        n, m = t["accounts"], len(t["examples"])
        key = f'{t["from"]}→{t["to"]}'
        more = (f"{_num(m)} below, {_num(n - m)} more in accounts.csv" if n > m else
                "the only one, below" if m == 1 else f"all {_num(m)}, below")
        trows.append(f'<tr data-t="{_e(key)}" data-k="{k}" data-from="{_e(t["from"])}" '
                     f'data-to="{_e(t["to"])}" data-n="{n}"><td><code>{_e(t["from"])}'
                     f'</code></td><td><code>{_e(t["to"])}</code></td>'
                     f'<td class="n" data-v="{n}">{_num(n)}</td>'
                     f'<td class="small">{_e(more)}</td></tr>')
    # without the script: the first examples of each transition (the script shows them all,
    # filtered, DRILL_PAGE at a time)
    drows = [_drill_row(impact, t, a)[0] for t in ex for a in t["examples"][:per]]
    heads = [("account", "a"), ("customer class", "c"), ("deposit class", "d"),
             ("transition", "t"), ("refund before", "rb"), ("refund after", "rc")]
    head = "".join(f"<th class='sort{' n' if k in ('rb', 'rc') else ''}' data-key='{k}'>"
                   f"{_e(h)}</th>" for h, k in heads)
    return ('<section id="drilldown"><h2>Accounts by transition</h2>'
            '<p class="muted">Every transition with changed accounts, most accounts first. '
            f"impact.json holds the first {per} accounts (by id) of each transition, "
            "customer class and deposit class; accounts.csv and accounts.parquet hold every "
            "account (a transition's: changed=true with its outcome_baseline and "
            "outcome_candidate). Filter below (the counts follow the classes chosen), click "
            "a heading to sort, or click a cell of the transition matrix.</p>"
            f"{filters}"
            '<div class="box"><table class="sortable" id="transitions-list"><thead><tr>'
            "<th class='sort'>baseline</th><th class='sort'>candidate</th>"
            "<th class='n sort'>changed accounts</th><th>example accounts</th></tr></thead>"
            f'<tbody>{"".join(trows)}</tbody></table></div>'
            '<h3>Example accounts</h3><div class="box"><table class="paged" id="drill">'
            f"<thead><tr>{head}<th>money before → after</th>"
            f'<th>why</th></tr></thead><tbody>{"".join(drows)}</tbody></table></div>'
            '<p class="noprint"><button type="button" id="drill-more" hidden>show more'
            '</button></p><p class="printonly small muted" id="drill-caption"></p>'
            "</section>")


def _rule_text(rule: str | None, outcome: str) -> str:
    if not rule:
        return "-"
    return f"{rule} (not met)" if outcome.startswith("not_eligible_") else rule


def _glossary(impact: dict) -> str:
    present = list(impact["outcomes"])
    rows = []
    for name, kind, text in GLOSSARY:
        names = [o for o in present if o == name or (name.endswith("_") and
                                                     o.startswith(name))]
        shown = ", ".join(names) if names else (name + "<reason>" if name == "not_eligible_"
                                               else name + "<TYPE>" if name == "todo_"
                                               else name)
        rows.append(f'<tr><td><code>{_e(shown)}</code></td><td>'
                    f'{_chip(kind, KIND_WORDS[kind])}</td><td>{_e(text)}</td></tr>')
    return ('<section id="glossary"><h2>Glossary of outcomes</h2><p class="muted">Each '
            "account gets one outcome per configuration: the most significant of its "
            "deposits', in this order.</p><div class=\"box\"><table><tr><th>outcome</th>"
            f'<th>for the money</th><th>meaning</th></tr>{"".join(rows)}</table></div>'
            "</section>")


def _data_json(impact: dict) -> str:
    """What the script needs, as JSON safe inside a script element."""
    data = {"as_of": impact["as_of"], "accounts": impact["accounts"], "page": DRILL_PAGE,
            "transitions": [[t["from"], t["to"], t["accounts"], t.get("by_class") or {}]
                            for t in impact.get("examples") or []],
            "rows": _drill_rows(impact)}
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(impact: dict, source: str = "") -> str:
    has_c = impact["candidate"] is not None
    title = f"What-if impact on {impact['as_of']}"
    body = [_header(impact, source, has_c), _cards(impact, has_c), _money(impact, has_c),
            _outcomes(impact, has_c)]
    if has_c:
        body.append(_transitions(impact))
    if impact.get("monthly"):
        body.append(_monthly(impact, has_c))
    body.append(_distributions(impact, has_c))
    body.append(_classes(impact, has_c))
    body.append(_deposit_classes(impact, has_c))
    if has_c:
        body.append(_drilldown(impact))
    body.append(_glossary(impact))
    body.append(f'<footer class="muted small"><p>Generated by deprules '
                f'{_e(impact.get("deprules_version", ""))} simulate from impact.json (every '
                "figure on this page is in it). Works offline: no network, one file.</p>"
                "</footer>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main>"
            f'<script type="application/json" id="deprules-data">{_data_json(impact)}'
            f'</script><script id="deprules-ui">{SCRIPT}</script></body></html>\n')
