"""Screenshots of report.html for docs/simulate.md (docs/img/), with Debian's headless Chromium.

    .venv/bin/deprules extract generate --accounts 20000 --seed 7 --out /tmp/x20k
    .venv/bin/deprules simulate --extract /tmp/x20k --as-of 2026-11-21 \\
        --whatif examples/whatif --horizon 12 --out /tmp/x20k-out
    .venv/bin/python tools/report_screenshots.py /tmp/x20k-out/report.html
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402

SHOTS = [  # file, width, height, the parts of the page
    ("report-summary.png", 1400, 900, "header,.cards,#money"),
    ("report-transitions.png", 1400, 1200, "#outcomes,#transitions"),
    ("report-monthly.png", 1400, 720, "#monthly"),
    ("report-distributions.png", 1400, 440, "#distributions"),
    ("report-drilldown.png", 1400, 1000, "#drilldown"),
]


def main(argv: list[str]) -> int:
    html = Path(argv[1])
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    for name, w, h, keep in SHOTS:
        png = browser.screenshot(html, out / name, w, h, keep)
        print(f"{png.relative_to(ROOT)}: {png.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
