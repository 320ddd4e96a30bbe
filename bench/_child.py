"""What both benchmarks need: run one measurement in a fresh interpreter, and read its peak memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path


def peak_mb() -> float:
    """Peak RSS of this process's own address space (VmHWM); ru_maxrss would include the parent's, inherited at fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, kind: str, path: Path) -> dict:
    """`python SCRIPT --child KIND PATH` in a fresh process; its last stdout line is a JSON result."""
    out = subprocess.run([sys.executable, script, "--child", kind, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
