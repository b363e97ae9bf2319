"""`make bench`: the broker against the naive handler and Powertools, on loopback stand-ins.

    python benchmarks/run.py [--quick] [--out benchmarks/results.md]

Starts its own moto server and OpenBao dev server on 127.0.0.1, stores a login in
each, and measures in one run: cold starts and their peak memory, warm cache hits,
secret-store calls over a simulated hour, scale from 1 to 1,000 registries, and the
import-time breakdown of ``broker.handler``. Prints a Markdown report and writes it
to ``--out``. ``--quick`` runs a few iterations of everything (CI smoke test).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import runtime  # noqa: E402
from tests.support.clock import FakeClock  # noqa: E402
from tests.support.faults import FaultProxy  # noqa: E402
from tests.support.servers import MotoServer, OpenBaoServer, find_binary  # noqa: E402

HOUR = 3600.0
TTL = 300


@dataclass
class Stats:
    """Median and range of a list of samples."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def __str__(self) -> str:
        return f"{self.median:.1f} ({min(self.samples):.1f}–{max(self.samples):.1f})"


@dataclass
class Stand:
    """The running stand-ins and what was stored in them."""

    moto: MotoServer
    bao: OpenBaoServer
    counter: FaultProxy  # counts every request that reaches moto
    secret_id: str
    vault_token: str
    approle: dict[str, str]

    def configs(self) -> dict[str, str]:
        registry = {"host": "registry.bench:5000", "cache_ttl": TTL}
        vault = {"type": "vault", "address": self.bao.url, "insecure": True, "path": "bench/login"}
        return {
            "sm": _config(registry, {"type": "secretsmanager", "secret_id": self.secret_id}),
            "ssm": _config(registry, {"type": "ssm", "username_parameter": "/bench/user",
                                      "password_parameter": "/bench/pass"}),
            "vault": _config(registry, {**vault, "auth": {"method": "token",
                                                          "token": {"env": "BENCH_BAO_TOKEN"}}}),
            "vault-approle": _config(registry, {**vault, "auth": {
                "method": "approle", "role_id": {"env": "BENCH_ROLE_ID"},
                "secret_id": {"env": "BENCH_SECRET_ID"}}}),
        }


def _config(registry: dict, backend: dict) -> str:
    return json.dumps({"registries": {"acme": {**registry, "backend": backend}}})


def start() -> Stand:
    import boto3

    moto = MotoServer().start()
    bao = OpenBaoServer(find_binary("bao") or "bao", secrets.token_hex(16)).start()
    counter = FaultProxy(("127.0.0.1", moto.port))
    login = {"username": "bench", "password": secrets.token_urlsafe(16)}
    secret_id = "bench/registry"
    boto3.client("secretsmanager", endpoint_url=moto.url).create_secret(
        Name=secret_id, SecretString=json.dumps(login))
    ssm = boto3.client("ssm", endpoint_url=moto.url)
    ssm.put_parameter(Name="/bench/user", Value=login["username"], Type="String")
    ssm.put_parameter(Name="/bench/pass", Value=login["password"], Type="SecureString")
    root = bao.client()
    root.secrets.kv.v2.create_or_update_secret(path="bench/login", secret=login)
    root.sys.create_or_update_policy("bench", 'path "secret/data/bench/*" { capabilities = ["read"] }')
    root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle("bench", token_policies=["bench"], token_ttl="1200s")
    approle = {"BENCH_ROLE_ID": root.auth.approle.read_role_id("bench")["data"]["role_id"],
               "BENCH_SECRET_ID": root.auth.approle.generate_secret_id("bench")["data"]["secret_id"]}
    return Stand(moto, bao, counter, secret_id, bao.root_token, approle)


def child_env(stand: Stand, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "AWS_ENDPOINT_URL": stand.moto.url, "SECRET_ID": stand.secret_id,
            "PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks' / 'handlers'}",
            "POWERTOOLS_SERVICE_NAME": "bench", **extra}


def cold(stand: Stand, rounds: int) -> tuple[list[str], dict[str, Stats], dict[str, Stats]]:
    """Fresh interpreters, from exec to the first served response: (lines, times, peak MB)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "broker"),
                    str(ROOT / "backends"), str(ROOT / "benchmarks" / "handlers")], check=True)
    configs = stand.configs()
    kinds = {
        "broker, Secrets Manager": ("broker.handler", {"BROKER_CONFIG": configs["sm"]}),
        "naive boto3 handler": ("naive", {}),
        "Powertools get_secret": ("powertools", {}),
        "broker, SSM (2 parameters)": ("broker.handler", {"BROKER_CONFIG": configs["ssm"]}),
        "broker, Vault (token)": ("broker.handler", {"BROKER_CONFIG": configs["vault"],
                                                     "BENCH_BAO_TOKEN": stand.vault_token}),
    }
    times, memory = defaultdict(list), defaultdict(list)
    names = list(kinds)
    for round_no in range(rounds + 1):  # round 0 warms the page cache and is not counted
        for name in names[round_no % len(names):] + names[:round_no % len(names)]:
            module, extra = kinds[name]
            started = time.perf_counter()
            out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cold_child.py"),
                                  module], env=child_env(stand, extra), capture_output=True,
                                 text=True, check=True).stdout
            elapsed = (time.perf_counter() - started) * 1000
            result = json.loads(out.splitlines()[-1])
            assert result["ok"], f"{name} served no login"
            if round_no:
                times[name].append(elapsed)
                memory[name].append(result["maxrss_kb"] / 1024)
    t = {k: Stats(v) for k, v in times.items()}
    m = {k: Stats(v) for k, v in memory.items()}
    lines = ["| handler | cold start ms, median (min–max) | peak RSS MB, median (min–max) |",
             "|---|---|---|"]
    lines += [f"| {k} | {t[k]} | {m[k]} |" for k in kinds]
    return lines, t, m


def _quiet_invocations(app, count: int) -> float:
    """Seconds per invocation of ``app`` on a cache hit, INFO audit line written to a buffer."""
    sink = io.StringIO()
    with redirect_stdout(sink):
        app.invoke({}, None)
        started = time.perf_counter()
        for _ in range(count):
            app.invoke({}, None)
        elapsed = time.perf_counter() - started
    assert sink.getvalue().count("credentials_served") == count + 1
    return elapsed / count


def warm(stand: Stand, count: int, repeats: int) -> tuple[list[str], dict[str, Stats]]:
    """In-process: a broker cache hit vs an uncached GetSecretValue vs a Powertools hit (µs)."""
    import botocore.session
    from aws_lambda_powertools.utilities import parameters

    from broker.app import App
    from broker.aws import AwsClients

    app = App(stand.configs()["sm"], environ={}, aws=AwsClients(endpoint_url=stand.moto.url))
    broker = [_quiet_invocations(app, count) * 1e6 for _ in range(repeats)]
    client = botocore.session.get_session().create_client("secretsmanager",
                                                          endpoint_url=stand.moto.url)
    uncached = []
    for _ in range(max(5, count // 100)):
        started = time.perf_counter()
        client.get_secret_value(SecretId=stand.secret_id)
        uncached.append((time.perf_counter() - started) * 1e6)
    os.environ["AWS_ENDPOINT_URL"] = stand.moto.url
    parameters.get_secret(stand.secret_id, transform="json", max_age=TTL)
    powertools = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            parameters.get_secret(stand.secret_id, transform="json", max_age=TTL)
        powertools.append((time.perf_counter() - started) / count * 1e6)
    stats = {"broker cache hit (INFO audit line on)": Stats(broker),
             "uncached GetSecretValue to moto": Stats(uncached),
             "Powertools cache hit": Stats(powertools)}
    lines = ["| path | µs per invocation, median (min–max) |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in stats.items()]
    return lines, stats


class _SimulatedNow(datetime):
    """Powertools reads datetime.now() for its cache expiry; this one follows the simulation."""

    offset = 0.0

    @classmethod
    def now(cls, tz=None):  # noqa: ARG003
        return datetime(2026, 1, 1) + timedelta(seconds=cls.offset)


def calls(stand: Stand, invocations: int) -> tuple[list[str], dict[str, tuple[int, int | None]]]:
    """Requests reaching the store over ``invocations`` spread across one simulated hour."""
    from aws_lambda_powertools.utilities.parameters import base
    from aws_lambda_powertools.utilities.parameters import secrets as pt_secrets

    from broker.app import App
    from broker.aws import AwsClients

    step = HOUR / invocations
    counted: dict[str, tuple[int, int | None]] = {}
    for kind in ("sm", "ssm"):
        clock = FakeClock()
        app = App(stand.configs()[kind], environ={}, clock=clock,
                  aws=AwsClients(endpoint_url=stand.counter.url))
        run = functools.partial(_simulate, app, clock, step, invocations)
        counted[f"broker, {kind}"] = (_count(stand, run), None)
    clock = FakeClock()
    app = App(stand.configs()["vault-approle"], environ=stand.approle, clock=clock)
    backend = app.broker().backends["acme"]
    reads = []
    original = backend._read
    backend._read = lambda: reads.append(1) or original()
    _simulate(app, clock, step, invocations)
    counted["broker, Vault (AppRole, 1200 s tokens)"] = (len(reads), backend.logins)
    naive = _naive_client(stand.counter.url)
    counted["naive boto3 handler"] = (_count(stand, lambda: [
        naive.get_secret_value(SecretId=stand.secret_id) for _ in range(invocations)]), None)
    os.environ["AWS_ENDPOINT_URL"] = stand.counter.url
    pt_secrets.DEFAULT_PROVIDERS.clear()
    base.datetime = _SimulatedNow
    counted["Powertools max_age=300"] = (_count(stand, lambda: _simulate_powertools(
        stand, step, invocations)), None)
    lines = [f"| handler | store requests in {invocations:,} invocations over 1 h | Vault logins |",
             "|---|---|---|"]
    lines += [f"| {k} | {n:,} | {'' if logins is None else logins} |"
              for k, (n, logins) in counted.items()]
    return lines, counted


def _count(stand: Stand, run) -> int:
    before = len(stand.counter.seen)
    run()
    return len(stand.counter.seen) - before


def _simulate(app, clock: FakeClock, step: float, invocations: int) -> None:
    with redirect_stdout(io.StringIO()):
        for _ in range(invocations):
            app.invoke({}, None)
            clock.advance(step)


def _simulate_powertools(stand: Stand, step: float, invocations: int) -> None:
    from aws_lambda_powertools.utilities import parameters

    for i in range(invocations):
        _SimulatedNow.offset = i * step
        parameters.get_secret(stand.secret_id, transform="json", max_age=TTL)


def _naive_client(endpoint: str):
    import boto3

    return boto3.client("secretsmanager", endpoint_url=endpoint)


def scale(stand: Stand, repeats: int, count: int) -> tuple[list[str], dict[int, tuple[Stats, Stats]]]:
    """App init (parse, validate, build backends) and per-invocation dispatch by alias."""
    from broker.app import App
    from broker.aws import AwsClients
    from broker.cli import LocalContext

    results = {}
    for size in (1, 100, 1000):
        document = json.dumps({"registries": {f"r{i}": {
            "host": f"r{i}.bench", "backend": {"type": "secretsmanager", "secret_id": stand.secret_id}}
            for i in range(size)}})
        inits = []
        for _ in range(repeats):  # fresh clients each time, as a cold start builds them
            started = time.perf_counter()
            app = App(document, environ={}, aws=AwsClients(endpoint_url=stand.moto.url))
            inits.append((time.perf_counter() - started) * 1000)
        context = LocalContext(f"r{size // 2}")
        sink = io.StringIO()
        with redirect_stdout(sink):
            app.invoke({}, context)
            dispatch = []
            for _ in range(repeats):
                started = time.perf_counter()
                for _ in range(count):
                    app.invoke({}, context)
                dispatch.append((time.perf_counter() - started) / count * 1e6)
        results[size] = (Stats(inits), Stats(dispatch))
    lines = ["| registries | init ms (config, validation, client, backends), median (min–max) | "
             "dispatch µs per cached invocation via alias |", "|---|---|---|"]
    lines += [f"| {n:,} | {i} | {d} |" for n, (i, d) in results.items()]
    return lines, results


def imports(stand: Stand) -> tuple[list[str], float]:
    """``python -X importtime -c 'import broker.handler'`` for a Secrets Manager registry."""
    env = child_env(stand, {"BROKER_CONFIG": stand.configs()["sm"]})
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import broker.handler"],
                         env=env, capture_output=True, text=True, check=True).stderr
    rows = [m.groups() for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", err)]
    by_package: dict[str, int] = defaultdict(int)
    for self_us, _, _, name in rows:
        by_package[name.strip().split(".")[0]] += int(self_us)
    total = sum(by_package.values()) / 1000
    top = sorted(by_package.items(), key=lambda kv: -kv[1])[:12]
    ours = [name.strip() for _, _, _, name in rows if name.strip().split(".")[0]
            in ("broker", "backends")]
    lines = [f"Total self time of every import: {total:.1f} ms (inflated by `-X importtime` "
             "itself). Heaviest top-level packages (the `broker` row includes `broker.handler`'s "
             "own line, which is the init work done at import: reading the configuration and "
             "building the botocore client):", "",
             "| package | self ms |", "|---|---|"]
    lines += [f"| {name} | {us / 1000:.1f} |" for name, us in top]
    lines += ["", f"Project modules on the cold path: {', '.join(sorted(ours))}.",
              "Not imported: " + ", ".join(m for m in ("boto3", "hvac", "requests", "yaml",
                                                       "backends.vault", "backends.ssm")
                                           if m not in {n.strip() for *_, n in rows}) + "."]
    return lines, total


def instructions(stand: Stand) -> tuple[list[str], dict[str, int]]:
    """Instructions of one whole cold start (a fresh interpreter that imports the handler and
    serves one login from Secrets Manager), counted by callgrind: unlike wall time, the same
    for the same inputs whatever else the machine is doing. Empty without valgrind."""
    import shutil

    if shutil.which("valgrind") is None:
        return ["valgrind is not installed: `apt-get install valgrind` to count instructions."], {}
    kinds = {"broker, Secrets Manager": ("broker.handler", {"BROKER_CONFIG": stand.configs()["sm"]}),
             "naive boto3 handler": ("naive", {}), "botocore alone (the floor)": ("floor", {})}
    counted = {}
    for name, (module, extra) in kinds.items():
        err = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              sys.executable, str(ROOT / "benchmarks" / "cold_child.py"), module],
                             env=child_env(stand, extra), capture_output=True, text=True,
                             check=True).stderr
        counted[name] = int(re.search(r"refs:\s+([\d,]+)", err).group(1).replace(",", ""))
    naive = counted["naive boto3 handler"]
    lines = ["| handler | instructions (callgrind) | vs naive |", "|---|---|---|"]
    lines += [f"| {k} | {v:,} | {v / naive:.3f}x |" for k, v in counted.items()]
    return lines, counted


def target_row(target: str, value: str, ok: bool) -> str:
    """One row of the Targets table."""
    return f"| {target} | {value} | {'met' if ok else 'NOT met'} |"


def verdicts(cold_t, cold_m, warm_s, counted, scaled, invocations) -> list[str]:
    broker, naive = cold_t["broker, Secrets Manager"], cold_t["naive boto3 handler"]
    powertools = cold_t["Powertools get_secret"]
    mem = cold_m["broker, Secrets Manager"].median / cold_m["naive boto3 handler"].median
    hit = warm_s["broker cache hit (INFO audit line on)"].median
    uncached = warm_s["uncached GetSecretValue to moto"].median
    windows = int(HOUR // TTL)
    init_ratio = scaled[1000][0].median / scaled[1][0].median
    dispatch_ratio = scaled[1000][1].median / scaled[1][1].median

    row = target_row
    return ["| target | measured | |", "|---|---|---|",
            row("cold start <= 1.0x naive", f"{broker.median / naive.median:.2f}x",
                broker.median <= naive.median),
            row("cold start < Powertools", f"{broker.median / powertools.median:.2f}x",
                broker.median < powertools.median),
            row("peak memory <= 1.1x naive", f"{mem:.2f}x", mem <= 1.1),
            row("warm hit <= 1/100 of an uncached call", f"1/{uncached / hit:.0f}",
                hit * 100 <= uncached),
            row(f"one store call per {TTL} s window ({windows}/h)",
                f"SM {counted['broker, sm'][0]}, SSM {counted['broker, ssm'][0]}",
                counted["broker, sm"][0] == windows == counted["broker, ssm"][0]),
            row("naive: one call per invocation", f"{counted['naive boto3 handler'][0]:,}",
                counted["naive boto3 handler"][0] == invocations),
            row("init flat 1 -> 1,000 registries (<= 1.2x)", f"{init_ratio:.1f}x", init_ratio <= 1.2),
            row("dispatch flat 1 -> 1,000 registries (<= 1.2x)", f"{dispatch_ratio:.2f}x",
                dispatch_ratio <= 1.2)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations (CI smoke test)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    args = parser.parse_args(argv)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    rounds, count, repeats, invocations = (2, 50, 2, 200) if args.quick else (15, 2000, 5, 10_000)
    stand = start()
    try:
        cold_lines, cold_t, cold_m = cold(stand, rounds)
        warm_lines, warm_s = warm(stand, count, repeats)
        call_lines, counted = calls(stand, invocations)
        scale_lines, scaled = scale(stand, repeats, count)
        import_lines, _ = imports(stand)
        instruction_lines, counted_instructions = ([], {}) if args.quick else instructions(stand)
        with tempfile.TemporaryDirectory() as workdir:
            runtime_lines, runtime_samples = runtime.measure(
                stand, stand.configs()["sm"], Path(workdir), *((1, 5) if args.quick else (12, 50)))
    finally:
        stand.counter.stop()
        stand.bao.stop()
        stand.moto.stop()
    targets = verdicts(cold_t, cold_m, warm_s, counted, scaled, invocations)
    targets += runtime.verdict_rows(runtime_samples, target_row)
    if counted_instructions:
        ratio = counted_instructions["broker, Secrets Manager"] / \
            counted_instructions["naive boto3 handler"]
        targets.append(target_row("cold start instructions <= 1.0x naive", f"{ratio:.3f}x",
                                  ratio <= 1.0))
    report = _report(args, rounds, cold_lines, warm_lines, call_lines, scale_lines, import_lines,
                     runtime_lines, instruction_lines, targets)
    print(report)
    Path(args.out).write_text(report)
    return 0


def _report(args, rounds, *sections) -> str:
    (cold_lines, warm_lines, call_lines, scale_lines, import_lines, runtime_lines,
     instruction_lines, verdict_lines) = sections
    head = [f"# Benchmarks ({'quick smoke run' if args.quick else 'full run'})", "",
            f"`python benchmarks/run.py{' --quick' if args.quick else ''}` on "
            f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"{time.strftime('%Y-%m-%d')}. Stand-ins on 127.0.0.1 (moto, OpenBao).", ""]
    parts = [("Targets", verdict_lines),
             ("Cold start in the Lambda runtime (RIE + awslambdaric, Python 3.12, the zips)",
              runtime_lines),
             (f"Cold start and peak memory, whole processes ({rounds} alternating rounds)",
              cold_lines),
             ("Cold start in instructions, whole processes (one run each)", instruction_lines),
             ("Warm invocations (in process)", warm_lines),
             ("Secret-store requests over one simulated hour (injected clock)", call_lines),
             ("Scale", scale_lines),
             ("Import time of broker.handler (Secrets Manager registry)", import_lines)]
    body = []
    for title, lines in parts:
        body += [f"## {title}", "", *lines, ""]
    return "\n".join(head + body)


if __name__ == "__main__":
    raise SystemExit(main())
