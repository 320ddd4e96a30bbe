"""A JUnit XML view of a verification report: one test case per sheet, as CI systems display."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from blueprint.files import write_atomically
from blueprint.verify import Problem, VerifyReport, counted

WHOLE = "all sheets"  # the test case of a class of problems collapsed into one line: it belongs to no one sheet


def junit_xml(report: VerifyReport) -> ET.ElementTree:
    """A test case per sheet with formula cells, one per other sheet with a problem (renamed, missing),
    and one named WHOLE for a collapsed class: every problem fails exactly one test case."""
    cases: dict[str, list[Problem]] = {sheet: [] for sheet in report.sheets}
    for p in report.problems:
        cases.setdefault(p.sheet or WHOLE, []).append(p)
    suite = ET.Element("testsuite", name="blueprint verify", tests=str(len(cases)),
                       failures=str(sum(1 for problems in cases.values() if problems)), time=f"{report.seconds:.3f}")
    for sheet, problems in cases.items():
        case = ET.SubElement(suite, "testcase", classname=f"blueprint.{report.engine}", name=sheet, time="0")
        summary = report.sheets[sheet].summary(report.cache_check) if sheet in report.sheets else ""
        if problems:
            fail = ET.SubElement(case, "failure", message="; ".join(filter(None, [counted(len(problems), "problem"), summary])), type="verify")
            fail.text = "\n".join(p.line() for p in problems)
        else:
            ET.SubElement(case, "system-out").text = summary
    return ET.ElementTree(suite)


def write_junit(report: VerifyReport, path: Path) -> None:
    """The JUnit file, whole or not at all (blueprint.files)."""
    write_atomically(Path(path), ET.tostring(junit_xml(report).getroot(), encoding="utf-8", xml_declaration=True), "--junit")
