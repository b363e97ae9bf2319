"""The benchmark suite keeps working: a quick run (CI asserts no timings, only that it runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_binary

ROOT = Path(__file__).parents[2]


def test_quick_benchmark_runs_and_reports_every_section(tmp_path):
    require_binary("bao")
    out = tmp_path / "results.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = out.read_text()
    for section in ("## Targets", "## Cold start and peak memory", "## Warm invocations",
                    "## Secret-store requests over one simulated hour", "## Scale",
                    "## Import time of broker.handler"):
        assert section in report
    assert "| broker, sm | 12 |" in report and "| naive boto3 handler | 200 |" in report
    assert "Not imported: boto3, hvac, requests, yaml" in report
