"""checkov, the scanner security teams gate templates on, in a virtualenv of its own under
.cache/ (its pins would fight the project's), installed from PyPI once and run offline
(``--skip-download``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "checkov"
CHECKOV = "checkov==3.3.30"


class ScannerUnavailable(Exception):
    """checkov could not be installed."""


def checkov(cache: Path = CACHE) -> Path:
    """The checkov command, installing it on first use."""
    command = cache / "bin" / "checkov"
    if (cache / ".complete").exists():
        return command
    for step in ([sys.executable, "-m", "venv", "--clear", str(cache)],
                 [str(cache / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                  CHECKOV]):
        proc = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise ScannerUnavailable(f"{' '.join(step[:3])} failed: {proc.stderr[-2000:]}")
    (cache / ".complete").touch()
    return command


def scan(command: Path, template: dict, folder: Path) -> dict:
    """checkov's JSON report on a CloudFormation template."""
    path = folder / "template.json"
    path.write_text(json.dumps(template))
    proc = subprocess.run([str(command), "-f", str(path), "--framework", "cloudformation",
                           "--skip-download", "--output", "json", "--compact"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1):  # 1: failed checks, which the caller looks at
        raise ScannerUnavailable(f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    return report[0] if isinstance(report, list) else report
