"""`make sandbox`: the stand-ins stay up for a local broker.yml, and stop cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3

from tests.conftest import require_binary
from tests.support import leaks

ROOT = Path(__file__).parents[2]


def read_until_ready(proc) -> dict[str, str]:
    env = {}
    for line in proc.stdout:
        if line.strip() == "ready":
            return env
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = value.split()[0]
    raise AssertionError("the sandbox never said ready")


def test_sandbox_serves_a_local_config_and_stops_on_ctrl_c(tmp_path):
    require_binary("bao")
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "sandbox.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        env = read_until_ready(proc)
        password = leaks.secret("password")
        boto3.client("secretsmanager", endpoint_url=env["AWS_ENDPOINT_URL"],
                     region_name="us-east-1").create_secret(
            Name="team/registry", SecretString=json.dumps({"username": "u", "password": password}))
        config = tmp_path / "broker.yml"
        config.write_text("registries:\n  team:\n    host: team.example\n"
                          "    backend: {type: secretsmanager, secret_id: team/registry}\n")
        invoked = subprocess.run([sys.executable, "-m", "broker", "invoke", "--config", str(config),
                                  "--alias", "team"], env={**os.environ, **env}, cwd=ROOT,
                                 capture_output=True, text=True, timeout=60)
        assert invoked.returncode == 0, invoked.stderr
        assert json.loads(invoked.stdout)["Credentials"]["Username"] == "u"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "sandbox stopped" in out
    port = int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "moto still listens"
