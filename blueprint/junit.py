"""A JUnit XML view of a verification report: one test case per sheet, as CI systems display."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from blueprint.errors import BlueprintError
from blueprint.verify import VerifyReport


def junit_xml(report: VerifyReport) -> ET.ElementTree:
    suite = ET.Element("testsuite", name="blueprint verify", tests=str(len(report.sheets)),
                       failures=str(len({p.sheet for p in report.problems})), time=f"{report.seconds:.3f}")
    for sheet, stats in report.sheets.items():
        case = ET.SubElement(suite, "testcase", classname=f"blueprint.{report.engine}", name=sheet, time="0")
        problems = [p for p in report.problems if p.sheet == sheet]
        if problems:
            fail = ET.SubElement(case, "failure", message=f"{len(problems)} problems; {stats.summary()}", type="verify")
            fail.text = "\n".join(p.line() for p in problems)
        else:
            ET.SubElement(case, "system-out").text = stats.summary()
    return ET.ElementTree(suite)


def write_junit(report: VerifyReport, path: Path) -> None:
    try:
        junit_xml(report).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise BlueprintError(f"--junit {path}: cannot write ({exc.strerror}); choose a writable path") from None
