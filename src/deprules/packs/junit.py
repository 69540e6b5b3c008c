"""JUnit XML for CI: one <testsuite> per pack file, one <testcase> per scenario.

The report validates against Jenkins' junit-10.xsd (tests/data/junit-10.xsd): a <testcase>
has only name, classname and time, and holds only its outcome and output. So the pack file
is the <testsuite>'s ``file``, and the scenario's place (FILE:LINE), seed steps and trace
are its <system-out>, which CI servers show beside the test; a failure's message starts
with FILE:LINE too.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from .report import failure_text, trace_lines
from .runner import ScenarioResult


def _classname(file: str) -> str:
    stem = file[:-5] if file.endswith(".yaml") else file.rsplit(".", 1)[0]
    return stem.replace(os.sep, ".").replace("/", ".").lstrip(".")


def junit_xml(results: list[ScenarioResult], name: str = "deprules packs") -> ET.ElementTree:
    root = ET.Element("testsuites", name=name)
    suites: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for r in results:
        file = r.scenario.file
        suite = suites.get(file)
        if suite is None:
            suite = suites[file] = ET.SubElement(root, "testsuite", name=file, tests="0",
                                                 failures="0", errors="0", skipped="0",
                                                 time="0", file=file)
        case = ET.SubElement(suite, "testcase", name=r.name, classname=_classname(file),
                             time=f"{r.duration:.3f}")
        suite.set("tests", str(int(suite.get("tests")) + 1))
        suite.set("time", f"{float(suite.get('time')) + r.duration:.3f}")
        totals["tests"] += 1
        totals["time"] += r.duration
        where = f"{file}:{r.scenario.line}"
        if r.status == "failed":
            first = r.mismatches[0]
            msg = (f"{where}: {first.field}: expected {first.expected}, actual {first.actual}"
                   + (f" (and {len(r.mismatches) - 1} more)" if len(r.mismatches) > 1 else ""))
            el = ET.SubElement(case, "failure", message=msg, type="ScenarioFailed")
            el.text = failure_text(r, indent="")
            suite.set("failures", str(int(suite.get("failures")) + 1))
            totals["failures"] += 1
        elif r.status == "error":
            msg = r.problems[0].render() if r.problems else f"{where}: error"
            el = ET.SubElement(case, "error", message=msg, type="ScenarioError")
            el.text = failure_text(r, indent="")
            suite.set("errors", str(int(suite.get("errors")) + 1))
            totals["errors"] += 1
        out = ET.SubElement(case, "system-out")
        out.text = _system_out(r, where)
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", f"{totals['time']:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def _system_out(r: ScenarioResult, where: str) -> str:
    """Where the scenario is, its seed steps and the trace of its accounts."""
    lines = [f"scenario {r.name} at {where}"]
    if r.scenario.seed_steps:
        lines.append(f"seed steps: {', '.join(r.scenario.seed_steps)}")
    if r.status != "error":
        lines.extend(trace_lines(r, indent=""))
    return "\n".join(lines) + "\n"


def write_junit_stream(results: list[ScenarioResult], stream) -> None:
    """Write the report to a binary stream (standard output for ``--junit -``), flushed."""
    junit_xml(results).write(stream, encoding="utf-8", xml_declaration=True)
    stream.write(b"\n")
    stream.flush()


def write_junit(results: list[ScenarioResult], path: Path | str) -> Path:
    """Write the report atomically (a CI job never reads half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".junit-", suffix=".xml", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        junit_xml(results).write(fh, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
