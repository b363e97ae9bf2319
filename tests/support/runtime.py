"""Run the unzipped artifact with only what Lambda's Python runtime provides beside it.

The managed runtime has the standard library, boto3 and botocore (with their dependencies);
anything else the function imports must come from the zip. ``run_handler`` starts the dev
interpreter without its site-packages (``-S``) on a path of the task root and a folder that
links just those runtime packages, so an import the zip lacks fails here as it would there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

HANDLER = """
import json, sys
import broker.handler as h

class Context:  # what Lambda's context gives the broker (broker.cli is not in the zip)
    aws_request_id = "local"
    def __init__(self, alias):
        base = "arn:aws:lambda:us-east-1:123456789012:function:broker"
        self.invoked_function_arn = f"{base}:{alias}" if alias else base
    def get_remaining_time_in_millis(self):
        return 30_000

try:
    print(json.dumps(h.handler({}, Context(sys.argv[1] or None))))
except Exception as exc:
    print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}))
"""


def runtime_site(folder: Path) -> Path:
    """A folder holding links to the packages Lambda's Python runtime provides."""
    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        link = folder / name
        if not link.exists():
            link.symlink_to(site / name)
    return folder


def run_handler(task: Path, env: dict[str, str], alias: str = "") -> subprocess.CompletedProcess:
    """Import ``broker.handler`` from ``task`` and invoke it once; the finished process."""
    site = runtime_site(task.parent / "runtime-site")
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{task}{os.pathsep}{site}",
               "LAMBDA_TASK_ROOT": str(task), "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.run([sys.executable, "-S", "-c", HANDLER, alias], cwd=task, env=environ,
                          capture_output=True, text=True, timeout=60)
