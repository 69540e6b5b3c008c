"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network).

Built only from the impact dict, so the page says exactly what impact.json says. Every
piece of text goes through :func:`html.escape`.
"""

from __future__ import annotations

from html import escape

from ..money import parse_total
from .outcomes import CATEGORIES, CATEGORY_LABELS

BASE_COLOR = "#7f93ad"
CAND_COLOR = "#e07b39"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2733;
margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid
#d8dde4;padding-bottom:4px}h3{font-size:14px;margin:18px 0 6px}
.muted{color:#5b6675}.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:24px;
align-items:start}
table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border:1px solid #e1e5ea;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right;white-space:nowrap}
td.up{color:#0a7a3b}td.down{color:#b3261e}
table.transitions td.diag{background:#f2f4f7;color:#5b6675}
table.transitions td.hot{background:#fdebd9;font-weight:600}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px -1px 12px;border-radius:2px}
.cards{display:flex;gap:16px;flex-wrap:wrap;margin:14px 0}
.card{background:#fff;border:1px solid #e1e5ea;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px}
svg text{font:12px system-ui,-apple-system,Segoe UI,Roboto,sans-serif;fill:#1d2733}
"""


def _e(x) -> str:
    return escape(str(x), quote=True)


def _num(n: int) -> str:
    return f"{n:,}"


def _grouped(text: str) -> str:
    from .impact import grouped

    return grouped(text)


def _delta_class(text: str) -> str:
    t = str(text)
    if t.startswith("-"):
        return "n down"
    if t.strip("0.,+") == "":
        return "n"
    return "n up"


# ---- charts ------------------------------------------------------------------------------
def bar_chart(labels: list[str], series: list[tuple[str, str, list[int]]],
              fmt=_num, width: int = 500) -> str:
    """Grouped horizontal bars: one group per label, one bar per series (name, color, values)."""
    bar_h, gap, label_w, pad_r = 14, 10, 190, 90
    group_h = bar_h * len(series) + gap
    height = group_h * len(labels) + 8
    top = max([max(v, default=0) for _, _, v in series] + [1])
    plot_w = width - label_w - pad_r
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for i, label in enumerate(labels):
        y0 = 4 + i * group_h
        parts.append(f'<text x="{label_w - 8}" y="{y0 + bar_h * len(series) / 2 + 4:.1f}" '
                     f'text-anchor="end">{_e(label)}</text>')
        for j, (name, color, values) in enumerate(series):
            v = values[i]
            w = max(0.0, plot_w * abs(v) / top)
            y = y0 + j * bar_h
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{color}"><title>{_e(name)}: {_e(fmt(v))}</title></rect>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}">'
                         f'{_e(fmt(v))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, dates: list[str], series: list[tuple[str, str, list[int]]],
               fmt, width: int = 250, height: int = 150) -> str:
    """A small line chart of one figure over the process dates."""
    left, right, top_pad, bottom = 8, 8, 22, 22
    top = max([max(v, default=0) for _, _, v in series] + [1])
    n = len(dates)
    pw, ph = width - left - right, height - top_pad - bottom

    def xy(k: int, v: int) -> tuple[float, float]:
        x = left + (pw * k / (n - 1) if n > 1 else pw / 2)
        return x, top_pad + ph - ph * max(v, 0) / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">',
             f'<text x="{left}" y="14" font-weight="600">{_e(title)}</text>',
             f'<text x="{width - right}" y="14" text-anchor="end" fill="#5b6675">max '
             f'{_e(fmt(top))}</text>',
             f'<line x1="{left}" y1="{top_pad + ph}" x2="{left + pw}" y2="{top_pad + ph}" '
             'stroke="#c4cbd4"/>',
             f'<text x="{left}" y="{height - 6}">{_e(dates[0])}</text>']
    if n > 1:
        parts.append(f'<text x="{left + pw}" y="{height - 6}" text-anchor="end">'
                     f'{_e(dates[-1])}</text>')
    for name, color, values in series:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(k, v) for k, v in enumerate(values)))
        dash = ' stroke-dasharray="4 3"' if name == "baseline" else ""
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                     f'stroke-width="2"{dash}/>')
        for k, v in enumerate(values):
            x, y = xy(k, v)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                         f'<title>{_e(name)} {_e(dates[k])}: {_e(fmt(v))}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


# ---- sections ------------------------------------------------------------------------------
def _legend(has_c: bool) -> str:
    out = f'<p class="legend muted"><span style="background:{BASE_COLOR}"></span>baseline'
    if has_c:
        out += f'<span style="background:{CAND_COLOR}"></span>candidate'
    return out + "</p>"


def _outcomes(impact: dict, has_c: bool) -> str:
    rows = []
    for o, e in impact["outcomes"].items():
        cells = f'<td>{_e(o)}</td><td class="n">{_num(e["baseline"])}</td>'
        if has_c:
            delta = f"{e['delta']:+,}" if e["delta"] else "0"
            cells += (f'<td class="n">{_num(e["candidate"])}</td>'
                      f'<td class="{_delta_class(e["delta"])}">{delta}</td>')
        rows.append(f"<tr>{cells}</tr>")
    head = "<tr><th>outcome</th><th>baseline</th>" + (
        "<th>candidate</th><th>delta</th>" if has_c else "") + "</tr>"
    labels = list(impact["outcomes"])
    series = [("baseline", BASE_COLOR, [impact["outcomes"][o]["baseline"] for o in labels])]
    if has_c:
        series.append(("candidate", CAND_COLOR,
                       [impact["outcomes"][o]["candidate"] for o in labels]))
    return (f'<section id="outcomes"><h2>Accounts by outcome</h2>{_legend(has_c)}'
            f'<div class="grid"><table>{head}{"".join(rows)}</table>'
            f"<div>{bar_chart(labels, series)}</div></div></section>")


def _money(impact: dict, has_c: bool) -> str:
    mu, cur = impact["minor_units"], impact["currency"]
    rows = []
    for c, e in impact["money"].items():
        cells = f'<td>{_e(CATEGORY_LABELS[c])}</td><td class="n">{_e(_grouped(e["baseline"]))}</td>'
        if has_c:
            cells += (f'<td class="n">{_e(_grouped(e["candidate"]))}</td>'
                      f'<td class="{_delta_class(e["delta"])}">{_e(_grouped(e["delta"]))}</td>')
        rows.append(f"<tr>{cells}</tr>")
    head = f"<tr><th>{_e(cur)}</th><th>baseline</th>" + (
        "<th>candidate</th><th>delta</th>" if has_c else "") + "</tr>"
    labels = [CATEGORY_LABELS[c] for c in impact["money"]]
    series = [("baseline", BASE_COLOR,
               [parse_total(e["baseline"], mu) for e in impact["money"].values()])]
    if has_c:
        series.append(("candidate", CAND_COLOR,
                       [parse_total(e["candidate"], mu) for e in impact["money"].values()]))
    fmt = lambda v: _grouped(_fmt_money(v, mu))  # noqa: E731
    return (f'<section id="money"><h2>Money by category</h2>{_legend(has_c)}'
            f'<div class="grid"><table>{head}{"".join(rows)}</table>'
            f"<div>{bar_chart(labels, series, fmt)}</div></div>"
            '<p class="muted">All figures are positive amounts moved by the cycle: refund '
            "checks requested, deposit applied to the account's debt, interest credited, and "
            "residuals written down (credits kept and debts forgiven).</p></section>")


def _fmt_money(v: int, mu: int) -> str:
    from ..money import format_money

    return format_money(v, mu)


def _classes(impact: dict, has_c: bool) -> str:
    head = "<tr><th>class</th><th>accounts</th>" + ("<th>changed</th>" if has_c else "")
    for c in CATEGORIES:
        head += f"<th>{_e(CATEGORY_LABELS[c])}</th>"
    head += "</tr>"
    rows = []
    for cls, d in impact["by_customer_class"].items():
        cells = f'<td>{_e(cls)}</td><td class="n">{_num(d["accounts"])}</td>'
        if has_c:
            cells += f'<td class="n">{_num(d["changed_accounts"])}</td>'
        for c in CATEGORIES:
            e = d["money"][c]
            text = _grouped(e["baseline"])
            if has_c and e["delta"].strip("-0.") != "":
                text += f" → {_grouped(e['candidate'])}"
            cells += f'<td class="n">{_e(text)}</td>'
        rows.append(f"<tr>{cells}</tr>")
    return (f'<section id="classes"><h2>By customer class</h2><table>{head}{"".join(rows)}'
            "</table></section>")


def _transitions(impact: dict) -> str:
    matrix = impact["transitions"]
    froms = list(matrix)
    tos = [o for o in impact["outcomes"] if any(o in row for row in matrix.values())]
    head = "<tr><th>baseline ↓ / candidate →</th>" + "".join(
        f"<th>{_e(t)}</th>" for t in tos) + "<th>total</th></tr>"
    rows = []
    for f in froms:
        cells = f"<th>{_e(f)}</th>"
        for t in tos:
            n = matrix[f].get(t, 0)
            cls = "n diag" if f == t else ("n hot" if n else "n")
            cells += f'<td class="{cls}">{_num(n) if n else ""}</td>'
        cells += f'<td class="n">{_num(sum(matrix[f].values()))}</td>'
        rows.append(f"<tr>{cells}</tr>")
    return ('<section id="transitions"><h2>Transitions: baseline → candidate</h2>'
            '<p class="muted">Each account counted once: its outcome under the baseline (row) '
            "and under the candidate (column). Off-diagonal cells are the accounts the change "
            'moves.</p><table class="transitions">'
            f'{head}{"".join(rows)}</table></section>')


def _monthly(impact: dict, has_c: bool) -> str:
    months = impact["monthly"]
    mu = impact["minor_units"]
    dates = [m["process_date"] for m in months]
    fmt = lambda v: _grouped(_fmt_money(v, mu))  # noqa: E731
    charts = []
    for c in CATEGORIES:
        series = [("baseline", BASE_COLOR,
                   [parse_total(m["baseline"]["money"][c], mu) for m in months])]
        if has_c:
            series.append(("candidate", CAND_COLOR,
                           [parse_total(m["candidate"]["money"][c], mu) for m in months]))
        charts.append(line_chart(CATEGORY_LABELS[c], dates, series, fmt))
    head = "<tr><th>month</th><th>process date</th>" + "".join(
        f"<th>{_e(CATEGORY_LABELS[c])}</th>" for c in CATEGORIES) + "<th>refunded by check "\
        "(accounts, to date)</th></tr>"
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
    return ('<section id="monthly"><h2>Monthly projection</h2>'
            f'<p class="muted">The same cycle on each process date, the state carried forward. '
            f"Money moved in each month ({_e(note)}); dashed: baseline.</p>{_legend(has_c)}"
            f'<div class="cards">{"".join(charts)}</div>'
            f'<table>{head}{"".join(rows)}</table></section>')


def _examples(impact: dict) -> str:
    if not impact["examples"]:
        return ('<section id="examples"><h2>Example accounts</h2><p>No account changes '
                "outcome or money.</p></section>")
    parts = ['<section id="examples"><h2>Example accounts by transition</h2>'
             '<p class="muted">The first accounts (by id) of each transition, with what '
             "changed the outcome: the configuration value, and the account's data the rule "
             "compared it with.</p>"]
    for t in impact["examples"]:
        parts.append(f"<h3>{_e(t['from'])} → {_e(t['to'])} "
                     f'<span class="muted">({_num(t["accounts"])} accounts)</span></h3>')
        parts.append("<table><tr><th>account</th><th>class</th><th>why</th>"
                     "<th>rule (baseline → candidate)</th><th>money change</th></tr>")
        for ex in t["examples"]:
            money = ", ".join(f"{CATEGORY_LABELS[c]} {_grouped(v)}"
                              for c, v in ex["money_delta"].items())
            rules = (f"{_rule_text(ex['rule_baseline'], t['from'])} → "
                     f"{_rule_text(ex['rule_candidate'], t['to'])}")
            parts.append(f"<tr><td>{_e(ex['account_id'])}</td><td>{_e(ex['customer_class'])}"
                         f"</td><td>{_e(ex['reason'])}</td><td><code>{_e(rules)}</code></td>"
                         f'<td class="n">{_e(money)}</td></tr>')
        parts.append("</table>")
    parts.append("</section>")
    return "".join(parts)


def _rule_text(rule: str | None, outcome: str) -> str:
    if not rule:
        return "-"
    return f"{rule} (not met)" if outcome.startswith("not_eligible_") else rule


def _changes(impact: dict) -> str:
    changes = impact["candidate"]["changes"]
    if not changes:
        return ('<section id="changes"><h2>Configuration changes</h2><p>The candidate '
                "equals the baseline.</p></section>")
    rows = "".join(f"<tr><td><code>{_e(c['path'])}</code></td><td>{_e(c['baseline'])}</td>"
                   f"<td>{_e(c['candidate'])}</td></tr>" for c in changes)
    return ('<section id="changes"><h2>Configuration changes</h2><table><tr><th>value</th>'
            f"<th>baseline</th><th>candidate</th></tr>{rows}</table></section>")


def render_html(impact: dict, source: str = "") -> str:
    has_c = impact["candidate"] is not None
    title = f"What-if impact on {impact['as_of']}"
    cards = [("accounts", _num(impact["accounts"]))]
    if has_c:
        cards.append(("accounts changed", _num(impact["changed_accounts"])))
        for c in ("refund_checks", "write_downs"):
            cards.append((f"{CATEGORY_LABELS[c]} delta", _grouped(impact["money"][c]["delta"])))
    if impact["horizon_months"]:
        cards.append(("monthly runs", str(impact["horizon_months"])))
    cards_html = "".join(f'<div class="card"><span class="muted">{_e(k)}</span><b>{_e(v)}</b>'
                         "</div>" for k, v in cards)
    sub = f"extract {source}, " if source else ""
    sub += f"baseline configuration {impact['baseline']['config_hash'][:12]}"
    if has_c:
        sub += f", candidate {impact['candidate']['config_hash'][:12]}"
    body = [f"<h1>{_e(title)}</h1><p class=\"muted\">{_e(sub)}</p>",
            f'<div class="cards">{cards_html}</div>']
    if has_c:
        body.append(_changes(impact))
    body.append(_outcomes(impact, has_c))
    body.append(_money(impact, has_c))
    body.append(_classes(impact, has_c))
    if has_c:
        body.append(_transitions(impact))
    if impact.get("monthly"):
        body.append(_monthly(impact, has_c))
    if has_c:
        body.append(_examples(impact))
    body.append('<p class="muted">Outcome meanings: see docs/simulate.md. Generated by '
                "deprules simulate.</p>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
