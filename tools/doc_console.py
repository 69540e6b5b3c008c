"""Re-run the console examples of a Markdown document and refresh (or check) their output.

```sh blocks are run as set-up; in ```console blocks every line starting with "$ " is a
command and the lines after it its output. All blocks run in order in one bash session
from the repository root, so the document stays a true record of what the commands print.

    python tools/doc_console.py docs/csr.md            # report differences, exit 1 if any
    python tools/doc_console.py docs/csr.md --update   # rewrite the outputs in place
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@deprules-doc-command@@"


def blocks(text: str):
    """(kind, start_line, end_line) of every fenced sh / console block (0-based, exclusive)."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(sh|console)\s*$", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            out.append((m.group(1), i + 1, j))
            i = j
        i += 1
    return lines, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("doc", type=Path)
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--private", metavar="PATH", default="/tmp/csr-day",
                    help="a scratch folder the document uses; it runs in a private temporary "
                         "folder instead, so two runs cannot collide (default: %(default)s)")
    args = ap.parse_args()
    lines, found = blocks(args.doc.read_text())
    private = tempfile.mkdtemp(prefix="doc-console-")
    swap = lambda text: text.replace(args.private, private)  # noqa: E731
    script, commands = ["set +e", "cd " + str(ROOT)], []
    for kind, a, b in found:
        if kind == "sh":
            script.extend(swap(line) for line in lines[a:b])
            continue
        for k in range(a, b):
            if lines[k].startswith("$ "):
                commands.append(k)
                script.append(f"echo {MARK}")
                script.append(swap(lines[k][2:]) + " 2>&1")
    script.append(f"echo {MARK}")
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
               COLUMNS="100")
    try:
        run = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True,
                             text=True, env=env)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    outputs = run.stdout.replace(private, args.private).split(MARK + "\n")[1:]
    if len(outputs) != len(commands) + 1:
        print("could not match outputs to commands", file=sys.stderr)
        return 2
    new, differences, cmd_i = [], 0, 0
    k = 0
    by_line = dict(zip(commands, outputs))
    while k < len(lines):
        new.append(lines[k])
        if k in by_line:
            # skip the old output: up to the next command or the end of the block
            j = k + 1
            while j < len(lines) and not lines[j].startswith("$ ") and \
                    not lines[j].startswith("```"):
                j += 1
            old = lines[k + 1:j]
            fresh = by_line[k].rstrip("\n").split("\n") if by_line[k].strip() else []
            if old != fresh:
                differences += 1
                print(f"{args.doc}:{k + 1}: {lines[k]}")
                for line in fresh[:6]:
                    print(f"    + {line}")
            new.extend(fresh)
            k = j
            cmd_i += 1
            continue
        k += 1
    if args.update:
        args.doc.write_text("\n".join(new))
    print(f"{differences} command(s) with different output"
          + (" (updated)" if args.update and differences else ""))
    return 1 if differences and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())
