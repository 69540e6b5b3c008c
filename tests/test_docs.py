"""The walkthrough in docs/csr.md is a true record: every command prints what it shows."""

import subprocess
import sys


def test_csr_walkthrough_output_is_current(root):
    run = subprocess.run([sys.executable, str(root / "tools" / "doc_console.py"),
                          str(root / "docs" / "csr.md")], capture_output=True, text=True)
    assert run.returncode == 0, (
        f"{run.stdout}\nrefresh with: python tools/doc_console.py docs/csr.md --update")
