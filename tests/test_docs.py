"""The documents are a true record: every console example prints what it shows.

``tools/doc_console.py`` re-runs the ```console blocks of a document (``$ `` lines are
commands, the lines after them their output; ```sh blocks are set-up) and compares; a line
``...`` stands for lines left out and ``...`` inside a line for text left out.
"""

import importlib.util
import re
import subprocess
import sys

import pytest

from conftest import ROOT

# every document with console examples; a new one is found by test_every_console_doc_is_checked
CONSOLE_DOCS = ["README.md", "docs/csr.md", "docs/extract-format.md", "docs/outcomes.md",
                "docs/invariants.md", "docs/exit-codes.md", "docs/configuration.md"]


def _tool():
    spec = importlib.util.spec_from_file_location("doc_console", ROOT / "tools" / "doc_console.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("doc", CONSOLE_DOCS)
def test_console_examples_print_what_they_show(doc):
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "doc_console.py"), str(ROOT / doc)],
                         capture_output=True, text=True)
    assert run.returncode == 0, (
        f"{run.stdout}{run.stderr}\nrefresh with: python tools/doc_console.py {doc} --update")


def test_every_console_doc_is_checked():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    with_console = {str(p.relative_to(ROOT)) for p in docs
                    if re.search(r"^```console\s*$", p.read_text(), re.M)}
    assert with_console <= set(CONSOLE_DOCS), "add to CONSOLE_DOCS: " + ", ".join(
        sorted(with_console - set(CONSOLE_DOCS)))


def test_readme_rule_is_the_shipped_rule():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"^```yaml\n(.*?)^```", readme, re.M | re.S).group(1)
    assert shown in (ROOT / "rules" / "10-deprfnd.yaml").read_text()


def test_readme_points_only_at_files_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme and "DOMAIN.md" not in readme and "DESIGN.md" not in readme
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        assert (ROOT / target).exists(), target


# ---- the elision rules of tools/doc_console.py


@pytest.mark.parametrize("expected, actual, distance", [
    (["a", "b"], ["a", "b"], 0),
    (["a", "..."], ["a", "b", "c"], 0),
    (["a", "...", "d"], ["a", "d"], 0),  # a gap may stand for no line
    (["  ...", "z"], ["x", "y", "z"], 0),  # indented gap
    (["in ...s"], ["in 0.72s"], 0),  # text left out inside a line
    (["a, ..., z"], ["a, b, c, z"], 0),
    (["in ...s"], ["in 0.72 s!"], 1),
    (["a", "...", "d"], ["a", "b", "c"], 1),  # the last line must still match
    (["a", "b"], ["a"], 1),
    ([], ["a"], 1),
    (["..."], [], 0),
])
def test_elision_rules(expected, actual, distance):
    assert _tool().align(expected, actual)[0] == distance


@pytest.mark.parametrize("expected, actual, refreshed", [
    # a gap and the lines around it survive; only the wrong line is replaced
    (["head", "...", "n 1", "tail"], ["head", "x", "y", "n 2", "tail"],
     ["head", "...", "n 2", "tail"]),
    # an elided line that still matches is kept as written
    (["7 passed in ...s", "old"], ["7 passed in 0.9s", "new"], ["7 passed in ...s", "new"]),
    # new lines where there is no gap are shown; lines no longer printed go
    (["a", "gone", "c"], ["a", "c", "d"], ["a", "c", "d"]),
    (["...", "last"], ["1", "2"], ["...", "2"]),
])
def test_update_keeps_what_still_matches(expected, actual, refreshed):
    tool = _tool()
    distance, fresh = tool.align(expected, actual)
    assert fresh == refreshed
    assert tool.align(fresh, actual)[0] == 0  # the refreshed lines always match


def test_private_paths_are_swapped_both_ways():
    tool = _tool()
    pairs = tool._private_map(["/tmp/x", "/tmp/x100k", "/tmp/store"], "/T")
    command = "deprules extract generate --out /tmp/x100k && ls /tmp/x/a /tmp/store"
    swapped = tool._swap(command, pairs)
    assert "/tmp/x" not in swapped and "/tmp/store" not in swapped
    assert tool._swap(swapped, pairs, back=True) == command


def test_off_and_on_directives_and_private_paths(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- doc-console: off -->\n```sh\nmake test\n```\n"
                   "<!-- doc-console: on -->\n<!-- doc-console: private /tmp/a /tmp/b -->\n"
                   "```console\n$ echo hi\nhi\n```\n")
    _lines, found, private = _tool().blocks(doc.read_text())
    assert [kind for kind, _a, _b in found] == ["console"]
    assert private == ["/tmp/a", "/tmp/b"]


def test_set_up_output_is_not_a_commands_output():
    tool = _tool()
    stdout = (f"cd noise\n{tool.MARK}\nfirst\n{tool.SETUP_MARK}\ncreated store /tmp/x\n"
              f"{tool.MARK}\nsecond, no newline{tool.MARK}\n")
    assert tool._split(stdout) == ["first\n", "second, no newline", ""]
