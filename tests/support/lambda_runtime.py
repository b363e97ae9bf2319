"""The real Lambda Python runtime, offline: AWS's Runtime Interface Emulator and awslambdaric.

What runs the function is what AWS runs: ``awslambdaric`` (the runtime interface client the
managed python3.12 runtime bundles) on Python 3.12, under the Runtime Interface Emulator (RIE),
in the unzipped artifact. The tools are fetched once into a cache folder (``.cache/`` in the
checkout, ignored by git), from PyPI only:

- a Python 3.12 virtual environment holding just what the managed runtime holds: boto3
  (with botocore) and awslambdaric;
- the RIE binary for this machine, extracted from the ``aws-sam-cli`` wheel, which ships it.

RIE's own Runtime API listens on 127.0.0.1:9001, a fixed port: run one runtime at a time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "lambda-runtime"
RUNTIME_VERSION = "3.12"
SAM_CLI = "aws-sam-cli==1.170.0"
RUNTIME_PACKAGES = ("boto3", "awslambdaric")
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
ACCOUNT = "012345678912"  # the account RIE puts in the invoked ARN


class RuntimeUnavailable(Exception):
    """A tool the runtime needs cannot be found or fetched; the message says which."""


def host_arch() -> str:
    """This machine's Lambda architecture name: ``x86_64`` or ``arm64``."""
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64",
            "arm64": "arm64"}[platform.machine().lower()]


def find_python() -> str | None:
    """A working Python 3.12: $RUNTIME_PYTHON, python3.12 on PATH, or one under pyenv."""
    candidates = [os.environ.get("RUNTIME_PYTHON"), shutil.which(f"python{RUNTIME_VERSION}"),
                  *map(str, sorted(Path.home().glob(f".pyenv/versions/{RUNTIME_VERSION}.*/bin/"
                                                    f"python{RUNTIME_VERSION}")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 12)":
            return candidate
    return None


@dataclass(frozen=True)
class RuntimeTools:
    """The emulator binary and the runtime's Python."""

    rie: Path
    python: Path


def runtime_tools(cache: Path = CACHE) -> RuntimeTools:
    """Fetch (once) and return the emulator and the runtime's Python; RuntimeUnavailable if not."""
    cache.mkdir(parents=True, exist_ok=True)
    return RuntimeTools(_emulator(cache), _runtime_venv(cache))


def _runtime_venv(cache: Path) -> Path:
    venv = cache / f"python{RUNTIME_VERSION}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    base = find_python()
    if base is None:
        raise RuntimeUnavailable(f"no Python {RUNTIME_VERSION} (set RUNTIME_PYTHON, or install it "
                                 "with pyenv): the Lambda runtime under test is python3.12")
    shutil.rmtree(venv, ignore_errors=True)
    _run([base, "-m", "venv", str(venv)])
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          *RUNTIME_PACKAGES])
    (venv / ".complete").touch()
    return python


def _emulator(cache: Path) -> Path:
    rie = cache / f"aws-lambda-rie-{host_arch()}"
    if rie.exists():
        return rie
    wheels = cache / "wheels"
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
          "--disable-pip-version-check", SAM_CLI, "-d", str(wheels)])
    wheel = next(wheels.glob("aws_sam_cli-*.whl"), None)
    if wheel is None:
        raise RuntimeUnavailable(f"pip download {SAM_CLI} gave no wheel")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(f"samcli/local/rapid/aws-lambda-rie-{host_arch()}")
    partial = rie.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.rename(rie)
    return rie


def _run(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeUnavailable(f"{' '.join(command[:4])} failed: {proc.stderr[-2000:]}")


def unzip(artifact: Path, task: Path) -> Path:
    """The artifact unzipped into ``task``, as Lambda does into /var/task."""
    shutil.rmtree(task, ignore_errors=True)
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(task)
    return task


class LambdaRuntime:
    """One emulator process serving the unzipped artifact in ``task``, as function
    ``function_name`` (``NAME:ALIAS`` for an invocation through an alias).

    ``env`` is the function's environment (what deploy.json gives it, and any test extras);
    the runtime gets only that plus what Lambda itself sets.
    """

    def __init__(self, tools: RuntimeTools, task: Path, env: dict[str, str],
                 function_name: str = "registry-broker-test-broker",
                 handler: str = "broker.handler.handler", timeout_s: int = 30) -> None:
        self.tools, self.task, self.handler = tools, task, handler
        self.port = _free_port()
        self.home = tempfile.mkdtemp(prefix="lambda-home-")
        self.log_path = Path(self.home) / "runtime.log"
        self.env = {"PATH": "/usr/bin:/bin", "HOME": self.home, "LANG": "C.UTF-8",
                    "LAMBDA_TASK_ROOT": str(task), "PYTHONPATH": str(task),
                    "PYTHONDONTWRITEBYTECODE": "1", "AWS_LAMBDA_LOG_FORMAT": "JSON",
                    "AWS_LAMBDA_FUNCTION_NAME": function_name,
                    "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    **env}
        self.started_at = 0.0
        self._proc: subprocess.Popen | None = None
        self._final_output: str | None = None

    def __enter__(self) -> LambdaRuntime:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> LambdaRuntime:
        self.started_at = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [str(self.tools.rie), "--runtime-interface-emulator-address",
                 f"127.0.0.1:{self.port}", str(self.tools.python), "-m", "awslambdaric",
                 self.handler], cwd=self.task, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self._proc)
        return self

    def invoke(self, event: Any = None, timeout: float = 30) -> Any:
        """The function's answer to ``event``: its response, or Lambda's error payload."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{INVOKE_PATH}",
                                         data=json.dumps(event or {}).encode(), method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=timeout) as answer:
            return json.loads(answer.read() or b"null")

    @property
    def output(self) -> str:
        """Everything the emulator and the function printed so far."""
        if self._final_output is not None:
            return self._final_output
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def peak_rss_mb(self) -> float:
        """The runtime process's peak resident memory so far (VmHWM), in MB."""
        assert self._proc is not None
        # The emulator is multi-threaded: its child may hang off any of its threads.
        tasks = Path(f"/proc/{self._proc.pid}/task").glob("*/children")
        for pid in {pid for task in tasks for pid in task.read_text().split()}:
            status = Path(f"/proc/{pid}/status").read_text()
            if "python" in Path(f"/proc/{pid}/cmdline").read_text():
                line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
                return int(line.split()[1]) / 1024
        raise RuntimeUnavailable("no runtime process under the emulator")

    def init_duration_ms(self) -> float | None:
        """The runtime's init time as the emulator reports it (``INIT REPORT``), if it did."""
        import re

        found = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", self.output)
        return float(found.group(1)) if found else None

    def log_lines(self) -> list[dict]:
        """The function's own JSON log lines (logger ``broker``)."""
        lines = [line for line in self.output.splitlines() if line.startswith('{"level"')]
        return [json.loads(line) for line in lines if '"logger":"broker"' in line]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._final_output is None:
            self._final_output = self.output
            shutil.rmtree(self.home, ignore_errors=True)


def function_env(deploy_json: Path, task: Path) -> dict[str, str]:
    """The environment deploy.json gives the function, with /var/task moved to ``task``."""
    environment = json.loads(deploy_json.read_text())["environment"]
    return {k: v.replace("/var/task", str(task)) for k, v in environment.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeUnavailable(f"the emulator exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeUnavailable(f"the emulator did not listen on 127.0.0.1:{port}")
