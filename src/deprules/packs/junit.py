"""JUnit XML for CI: one <testsuite> per pack file, one <testcase> per scenario."""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from .report import failure_text
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
                                                 time="0")
        case = ET.SubElement(suite, "testcase", name=r.name, classname=_classname(file),
                             file=file, line=str(r.scenario.line), time=f"{r.duration:.3f}")
        if r.scenario.seed_steps:  # first, as pytest writes them
            props = ET.SubElement(case, "properties")
            for step in r.scenario.seed_steps:
                ET.SubElement(props, "property", name="seed_step", value=step)
        suite.set("tests", str(int(suite.get("tests")) + 1))
        suite.set("time", f"{float(suite.get('time')) + r.duration:.3f}")
        totals["tests"] += 1
        totals["time"] += r.duration
        if r.status == "failed":
            first = r.mismatches[0]
            msg = (f"{first.field}: expected {first.expected}, actual {first.actual}"
                   + (f" (and {len(r.mismatches) - 1} more)" if len(r.mismatches) > 1 else ""))
            el = ET.SubElement(case, "failure", message=msg, type="ScenarioFailed")
            el.text = failure_text(r, indent="")
            suite.set("failures", str(int(suite.get("failures")) + 1))
            totals["failures"] += 1
        elif r.status == "error":
            msg = r.problems[0].render() if r.problems else "error"
            el = ET.SubElement(case, "error", message=msg, type="ScenarioError")
            el.text = failure_text(r, indent="")
            suite.set("errors", str(int(suite.get("errors")) + 1))
            totals["errors"] += 1
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", f"{totals['time']:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: list[ScenarioResult], path: Path | str) -> Path:
    """Write the report atomically (a CI job never reads half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".junit-", suffix=".xml", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        junit_xml(results).write(fh, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)
    return path
