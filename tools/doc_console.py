"""Re-run the console examples of a Markdown document and refresh (or check) their output.

```sh blocks are run as set-up (their output is not shown); in ```console blocks every line
starting with "$ " is a command and the lines after it, up to the next command or the end of
the block, its output (stdout and stderr together; ``$ echo $?`` shows the exit status of
the command before). All blocks run in order in one bash session from the repository root,
with .venv/bin first on PATH, so the document stays a true record of what the commands print.

The expected output may leave things out:

- a line that is only ``...`` (indented or not) stands for any number of lines, none included;
- ``...`` inside a line stands for any text within that line (``7 passed ... in ...s``).

Everything else must be exactly what the command prints.

Directives, HTML comments that do not show when the document is rendered:

- ``<!-- doc-console: off -->`` and ``<!-- doc-console: on -->``: blocks between them are not
  run (a set-up section's ``make test``, an illustration);
- ``<!-- doc-console: private PATH... -->``: scratch paths the document uses (``/tmp/store``).
  Each runs in a private temporary folder instead, so two runs cannot collide and nothing is
  left behind; outputs show the document's path. ``--private`` adds paths; with neither, the
  path is ``/tmp/csr-day``.

    python tools/doc_console.py docs/csr.md            # report differences, exit 1 if any
    python tools/doc_console.py docs/csr.md --update   # rewrite the outputs in place

``--update`` keeps every elision that still matches and writes the real output elsewhere.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@deprules-doc-command@@"
SETUP_MARK = "@@deprules-doc-setup@@"  # what follows is set-up output, not shown
DEFAULT_PRIVATE = "/tmp/csr-day"
GAP = "..."
_DIRECTIVE = re.compile(r"^\s*<!--\s*doc-console:\s*(?P<what>\w+)(?P<args>[^>]*?)\s*-->\s*$")


def blocks(text: str):
    """(kind, start_line, end_line) of every fenced sh / console block that runs (0-based,
    end exclusive), and the private paths the document names."""
    lines = text.split("\n")
    out, private, running, i = [], [], True, 0
    while i < len(lines):
        d = _DIRECTIVE.match(lines[i])
        if d:
            what = d.group("what")
            if what in ("off", "on"):
                running = what == "on"
            elif what == "private":
                private.extend(d.group("args").split())
            else:
                raise SystemExit(f"line {i + 1}: unknown directive doc-console: {what}")
        m = re.match(r"^```(sh|console)\s*$", lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if running:
                out.append((m.group(1), i + 1, j))
            i = j
        i += 1
    return lines, out, private


# ------------------------------------------------------------------------- matching


def is_gap(line: str) -> bool:
    return line.strip() == GAP


@functools.lru_cache(maxsize=4096)
def _pattern(line: str) -> re.Pattern:
    return re.compile(".*?".join(re.escape(part) for part in line.split(GAP)), re.S)


def line_matches(expected: str, actual: str) -> bool:
    """One expected line against one real line (``...`` inside it matches any text)."""
    if GAP not in expected:
        return expected == actual
    return _pattern(expected).fullmatch(actual) is not None


def align(expected: list[str], actual: list[str]) -> tuple[int, list[str]]:
    """How far ``expected`` is from ``actual``, and the expected lines brought up to date.

    The distance counts the lines that have to be changed, dropped or added; 0 means the
    document is right. The refreshed lines keep every expected line (with its elisions) that
    matches and every ``...`` line, and take the real lines where the document is wrong
    (a wrong line is replaced by the real line most like it); they always match ``actual``.
    """
    distance, _ = _align(expected, actual, lambda e, a: 1)
    if not distance:
        return 0, list(expected)
    _, fresh = _align(expected, actual, _unlike)
    return distance, fresh


def _unlike(expected: str, actual: str) -> float:
    """The cost of showing ``actual`` instead of ``expected``: 0.5 to 1, less when alike (and
    never more than dropping the line, so a wrong line between two gaps is replaced by the
    real line most like it, not dropped)."""
    return 1 - difflib.SequenceMatcher(None, expected, actual).ratio() / 2


def _align(expected, actual, change):
    """Edit distance between expected lines (with gaps) and real lines, and the refreshed
    lines along a cheapest alignment; ``change(e, a)`` costs showing a instead of e."""
    m, n = len(expected), len(actual)
    gaps = [is_gap(e) for e in expected]
    step = {}  # (i, j) -> cost of the pair, for the lines that are not gaps

    def pair(i, j):
        if (i, j) not in step:
            same = line_matches(expected[i], actual[j])
            step[i, j] = 0 if same else change(expected[i], actual[j])
        return step[i, j]

    # cost[i][j]: the distance between expected[i:] and actual[j:]
    cost = [[0.0] * (n + 1) for _ in range(m + 1)]
    for j in range(n + 1):
        cost[m][j] = n - j
    for i in range(m - 1, -1, -1):
        row, below = cost[i], cost[i + 1]
        row[n] = below[n] if gaps[i] else below[n] + 1
        for j in range(n - 1, -1, -1):
            if gaps[i]:  # the gap ends here, or swallows actual[j]
                row[j] = min(below[j], row[j + 1])
            else:
                row[j] = min(below[j + 1] + pair(i, j), below[j] + 1, row[j + 1] + 1)
    fresh: list[str] = []
    i = j = 0
    gap_written = False
    while i < m or j < n:
        here = cost[i][j]
        if i < m and gaps[i]:
            if not gap_written:
                fresh.append(expected[i])
                gap_written = True
            if cost[i + 1][j] == here:
                i, gap_written = i + 1, False
            else:
                j += 1
            continue
        if i < m and j < n and cost[i + 1][j + 1] + pair(i, j) == here:
            fresh.append(expected[i] if step[i, j] == 0 else actual[j])
            i, j = i + 1, j + 1
            continue
        if i < m and cost[i + 1][j] + 1 == here:
            i += 1  # an expected line the command no longer prints
            continue
        fresh.append(actual[j])  # a line the document does not show
        j += 1
    return cost[0][0], fresh


# ------------------------------------------------------------------------- running


def _private_map(paths: list[str], tmp: str) -> list[tuple[str, str]]:
    """(document path, private path) pairs, longest document path first."""
    pairs = [(p.rstrip("/"), f"{tmp}/{k}-{Path(p).name or 'root'}")
             for k, p in enumerate(dict.fromkeys(paths))]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def _swap(text: str, pairs: list[tuple[str, str]], back: bool = False) -> str:
    for doc_path, private in pairs:
        old, new = (private, doc_path) if back else (doc_path, private)
        text = re.sub(re.escape(old) + r"(?![\w-])", lambda _m, new=new: new, text)
    return text


def _mark(mark: str = MARK) -> str:
    """Separate two commands' outputs, keeping the exit status (``$ echo $?`` shows it)."""
    return f"__doc_status=$?; echo {mark}; (exit $__doc_status)"


def _split(stdout: str) -> list[str]:
    """The output after each command mark, without what set-up blocks printed."""
    parts = re.split(f"({re.escape(MARK)}|{re.escape(SETUP_MARK)})\n", stdout)
    # parts: text before the first mark, then (mark, the text after it) pairs
    return [text for mark, text in zip(parts[1::2], parts[2::2]) if mark == MARK]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("doc", type=Path)
    ap.add_argument("--update", action="store_true", help="rewrite the outputs in place")
    ap.add_argument("--private", metavar="PATH", action="append", default=[],
                    help="a scratch path the document uses (repeatable); it runs in a private "
                         "temporary folder instead, so two runs cannot collide (default, when "
                         f"neither this nor a private directive names one: {DEFAULT_PRIVATE})")
    args = ap.parse_args()
    lines, found, named = blocks(args.doc.read_text())
    tmp = tempfile.mkdtemp(prefix="doc-console-")
    pairs = _private_map(named + args.private or [DEFAULT_PRIVATE], tmp)
    script, commands = ["set +e", "cd " + str(ROOT)], []
    for kind, a, b in found:
        if kind == "sh":
            script.append(_mark(SETUP_MARK))
            script.extend(_swap(line, pairs) for line in lines[a:b])
            continue
        for k in range(a, b):
            if lines[k].startswith("$ "):
                commands.append(k)
                script.append(_mark())
                script.append(_swap(lines[k][2:], pairs) + " 2>&1")
    script.append(_mark())
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
               COLUMNS="100")
    try:
        run = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True,
                             text=True, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    outputs = _split(_swap(run.stdout, pairs, back=True))
    if len(outputs) != len(commands) + 1:
        print("could not match outputs to commands", file=sys.stderr)
        return 2
    new, differences, k = [], 0, 0
    by_line = dict(zip(commands, outputs))
    while k < len(lines):
        new.append(lines[k])
        if k in by_line:
            # the old output: up to the next command or the end of the block
            j = k + 1
            while j < len(lines) and not lines[j].startswith("$ ") and \
                    not lines[j].startswith("```"):
                j += 1
            old = lines[k + 1:j]
            real = by_line[k].rstrip("\n").split("\n") if by_line[k].strip() else []
            distance, fresh = align(old, real)
            if distance:
                differences += 1
                print(f"{args.doc}:{k + 1}: {lines[k]}")
                diff = list(difflib.unified_diff(old, fresh, lineterm="", n=1))[2:]
                for line in diff[:12]:
                    print(f"    {line}")
                if len(diff) > 12:
                    print(f"    ... ({len(diff) - 12} more diff lines)")
            new.extend(fresh)
            k = j
            continue
        k += 1
    if args.update:
        args.doc.write_text("\n".join(new))
    print(f"{differences} command(s) with different output"
          + (" (updated)" if args.update and differences else ""))
    return 1 if differences and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())
