"""Cold start where it counts: the packaged zips in the real Lambda runtime.

The broker's zip (`deploy/build.py`, one Secrets Manager registry) and the naive handler's zip
(`benchmarks/handlers/naive.py` alone) each run under AWS's Runtime Interface Emulator with
awslambdaric on Python 3.12 (tests/support/lambda_runtime.py), alternating, one fresh runtime
per round: wall time from starting the emulator to the first response, the emulator's
``INIT REPORT`` duration, the runtime process's peak memory, then warm invocations.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.lambda_runtime import (  # noqa: E402
    LambdaRuntime,
    RuntimeUnavailable,
    function_env,
    host_arch,
    runtime_tools,
    unzip,
)

KINDS = ("broker", "naive")


def measure(stand, config: str, workdir: Path, rounds: int, warm_count: int):
    """(report lines, {kind: samples}) or (lines saying why it was skipped, None)."""
    try:
        tools = runtime_tools()
    except RuntimeUnavailable as exc:
        return [f"Skipped: {exc}"], None
    aws = {"AWS_ENDPOINT_URL": stand.moto.url, "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench"}
    deployments = {"broker": _broker(config, workdir / "broker", aws),
                   "naive": _naive(workdir / "naive", {**aws, "SECRET_ID": stand.secret_id})}
    samples: dict[str, dict[str, list[float]]] = {k: {} for k in KINDS}
    for round_no in range(rounds + 1):
        for kind in KINDS:
            measured = _one(tools, *deployments[kind], warm_count)
            for key, value in measured.items():
                if round_no and value is not None:  # round 0 warms the page cache
                    samples[kind].setdefault(key, []).extend(value if isinstance(value, list)
                                                             else [value])
    return _lines(samples, rounds, warm_count), samples


def _broker(config: str, workdir: Path, aws: dict[str, str]) -> tuple[Path, dict, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "broker.json"
    source.write_text(config)
    subprocess.run([sys.executable, str(ROOT / "deploy" / "build.py"), "--config", str(source),
                    "--out", str(workdir / "build"), "--arch", host_arch()], check=True,
                   capture_output=True)
    task = unzip(workdir / "build" / "broker.zip", workdir / "task")
    return task, {**function_env(workdir / "build" / "deploy.json", task), **aws}, \
        "broker.handler.handler"


def _naive(workdir: Path, env: dict[str, str]) -> tuple[Path, dict, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    artifact = workdir / "naive.zip"
    with zipfile.ZipFile(artifact, "w") as archive:
        archive.write(ROOT / "benchmarks" / "handlers" / "naive.py", "naive.py")
    return unzip(artifact, workdir / "task"), env, "naive.handler"


def _one(tools, task: Path, env: dict, handler: str, warm_count: int) -> dict:
    runtime = LambdaRuntime(tools, task, env, function_name="bench-function:acme", handler=handler)
    started = time.perf_counter()
    runtime.start()
    try:
        first = runtime.invoke({})
        cold_ms = (time.perf_counter() - started) * 1000
        assert first["Credentials"]["Username"], first
        peak = runtime.peak_rss_mb()
        warm = []
        for _ in range(warm_count):
            began = time.perf_counter()
            runtime.invoke({})
            warm.append((time.perf_counter() - began) * 1000)
    finally:
        runtime.stop()
    return {"cold": cold_ms, "init": runtime.init_duration_ms(), "peak": peak, "warm": warm}


def _stat(values: list[float], digits: int = 1) -> str:
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}–{max(values):.{digits}f})")


def _lines(samples: dict, rounds: int, warm_count: int) -> list[str]:
    rows = ["| zip | cold start ms (emulator start to first response) | INIT REPORT ms | "
            "peak RSS MB | warm invocation ms |", "|---|---|---|---|---|"]
    for kind in KINDS:
        s = samples[kind]
        rows.append(f"| {kind} | {_stat(s['cold'])} | {_stat(s.get('init', [0.0]))} | "
                    f"{_stat(s['peak'])} | {_stat(s['warm'], 2)} |")
    return rows + ["", f"{rounds} alternating rounds, each a fresh runtime; {warm_count} warm "
                       "invocations per round through the emulator's HTTP endpoint. The broker's "
                       "warm call is a cache hit; the naive handler's calls Secrets Manager "
                       "(moto) every time."]


def verdict_rows(samples: dict | None, row) -> list[str]:
    """The targets of this measurement, as rows of the Targets table."""
    if samples is None:
        return [row("in-runtime targets", "skipped (no runtime)", False)]
    median = {k: {key: statistics.median(v) for key, v in samples[k].items()} for k in KINDS}
    cold = median["broker"]["cold"] / median["naive"]["cold"]
    memory = median["broker"]["peak"] / median["naive"]["peak"]
    warm_gap = median["broker"]["warm"] - median["naive"]["warm"]
    return [row("runtime cold start <= 1.0x naive zip", f"{cold:.2f}x", cold <= 1.0),
            row("runtime peak memory <= 1.1x naive zip", f"{memory:.2f}x", memory <= 1.1),
            row("runtime warm call within 1 ms of naive's", f"{warm_gap:+.2f} ms", warm_gap <= 1.0)]

