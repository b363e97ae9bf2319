"""The artifact users deploy, run the way Lambda runs it: `make package`'s zip, unzipped, under
the Runtime Interface Emulator and awslambdaric on Python 3.12, against the real stand-ins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.support import leaks
from tests.support.faults import FaultProxy
from tests.support.lambda_runtime import (
    LambdaRuntime,
    RuntimeUnavailable,
    function_env,
    host_arch,
    runtime_tools,
    unzip,
)
from tests.support.packaging import build
from tests.support.registry_fixture import REPOSITORY, TAG

FUNCTION = "registry-broker-e2e-broker"
SSM_SOURCE = "ssm:/e2e/broker-config"


@pytest.fixture(scope="session")
def lambda_tools():
    """The emulator and the runtime's Python 3.12 (fetched once into .cache/)."""
    try:
        return runtime_tools()
    except RuntimeUnavailable as exc:
        unavailable(f"the Lambda runtime cannot be set up: {exc}")


@pytest.fixture(scope="session")
def store_proxy(moto):
    """A proxy in front of moto that records every request the function sends to AWS."""
    proxy = FaultProxy(("127.0.0.1", moto.port))
    yield proxy
    proxy.stop()


@dataclass
class Deployment:
    """A built and unzipped artifact, and the environment deploy.json gives its function."""

    task: Path
    env: dict[str, str]
    logins: dict[str, tuple[str, str]]

    def run(self, tools, alias: str | None = None, **extra: str) -> LambdaRuntime:
        """A runtime serving this artifact, invoked through ``alias`` (None: unqualified)."""
        name = f"{FUNCTION}:{alias}" if alias else FUNCTION
        return LambdaRuntime(tools, self.task, {**self.env, **extra}, function_name=name)


def _login(label: str, username: str | None = None, password: str | None = None) -> tuple[str, str]:
    return username or f"{label}-robot", password or leaks.secret(f"{label}-password")


@pytest.fixture(scope="session")
def stores(aws, openbao, registries, store_proxy):
    """Every login the e2e registries read, put in place in moto and OpenBao."""
    users = registries.users
    logins = {"sm": _login("sm"), "ssm": _login("ssm"), "vault": _login("vault"),
              "reader": (users["reader"].username, users["reader"].password),
              "wrong": (users["reader"].username, leaks.secret("wrong-password")),
              "stranger": (users["stranger"].username, users["stranger"].password)}
    secrets = aws("secretsmanager")
    for name in ("sm", "reader", "wrong", "stranger"):
        username, password = logins[name]
        secrets.create_secret(Name=f"e2e/{name}", SecretString=json.dumps(
            {"username": username, "password": password}))
    ssm = aws("ssm")
    ssm.put_parameter(Name="/e2e/user", Value=logins["ssm"][0], Type="String")
    ssm.put_parameter(Name="/e2e/pass", Value=logins["ssm"][1], Type="SecureString")
    root = openbao.client()
    username, password = logins["vault"]
    root.secrets.kv.v2.create_or_update_secret(path="e2e/vault", secret={
        "username": username, "password": password})
    root.sys.create_or_update_policy("e2e-reader", 'path "secret/data/e2e/*" { capabilities = ["read"] }')
    token = root.auth.token.create(policies=["e2e-reader"], ttl="2h")["auth"]["client_token"]
    leaks.SENTINELS[token] = "vault-token"
    return logins, token


@pytest.fixture(scope="session")
def google(aws, moto, tmp_path_factory):
    """Google's STS and IAM Credentials on loopback, trusting one moto IAM user; the gar
    registry's service account token is minted as ``google.minted``."""
    from tests.support.google import GoogleStandIns

    stand_ins = GoogleStandIns(tmp_path_factory.mktemp("google"), aws, moto, impersonate=True)
    stand_ins.mint(leaks.secret("gar-token"))
    yield stand_ins
    stand_ins.down()


@pytest.fixture(scope="session")
def jfrog(aws, moto, tmp_path_factory):
    """JFrog's AWS token exchange on loopback, verifying the signed identity with moto's STS
    and trusting one moto IAM user; it mints ``jfrog.minted``."""
    from tests.support.jfrog import JFrogStandIn

    stand_in = JFrogStandIn(tmp_path_factory.mktemp("jfrog"), aws, moto)
    stand_in.mint(leaks.secret("jfrog-token"))
    yield stand_in
    stand_in.down()


@pytest.fixture(scope="session")
def azure(tmp_path_factory):
    """Entra ID and an ACR token exchange on loopback, for the example plugin."""
    from tests.support.azure import AcrStandIns

    stand_ins = AcrStandIns(tmp_path_factory.mktemp("azure"))
    stand_ins.mint(leaks.secret("acr-token"))
    yield stand_ins
    stand_ins.down()


def _registry_blocks(registries, openbao_url: str, google, azure, jfrog) -> dict:
    def sm(secret_id: str) -> dict:
        return {"type": "secretsmanager", "secret_id": f"e2e/{secret_id}"}

    def checked(registry, secret_id: str, mode: str = "warn") -> dict:
        return {"host": registry.host, "insecure": True, "preflight": mode,
                "repository": REPOSITORY, "reference": TAG, "backend": sm(secret_id)}
    blocks = {
        "sm": {"host": "sm.example", "backend": sm("sm")},
        "ssm": {"host": "ssm.example", "backend": {
            "type": "ssm", "username_parameter": "/e2e/user", "password_parameter": "/e2e/pass"}},
        "vault": {"host": "vault.example", "backend": {
            "type": "vault", "address": openbao_url, "insecure": True, "path": "e2e/vault",
            "auth": {"method": "token", "token": {"env": "E2E_VAULT_TOKEN"}}}},
        "missing": {"host": "missing.example", "backend": sm("no-such-secret")},
        "gar": {"host": google.host, "backend": google.backend()},
        "acr": {"host": azure.host, "backend": azure.backend()},
        "artifactory": {"host": jfrog.host, "backend": jfrog.backend()},
        "enforced": checked(registries.token, "reader", "enforce"),
    }
    for kind in ("token", "basic"):
        for login in ("reader", "wrong", "stranger"):
            blocks[f"{kind}_{login}"] = checked(getattr(registries, kind), login)
    return blocks


def _deploy(config: dict, workdir: Path, env: dict[str, str], logins: dict,
            *args: str) -> Deployment:
    built = build(config, workdir, "--arch", host_arch(), "--allow-loopback", *args)
    assert built.returncode == 0, built.stdout + built.stderr
    task = unzip(workdir / "build" / "broker.zip", workdir / "task")
    return Deployment(task, {**function_env(workdir / "build" / "deploy.json", task), **env}, logins)


def _aws_env(store_proxy) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": store_proxy.url, "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="session")
def deployed(stores, registries, openbao, store_proxy, google, azure, jfrog,
             tmp_path_factory) -> Deployment:
    """broker.yml with every backend (the ACR plugin's too) and the registries, packaged for
    this machine."""
    logins, token = stores
    config = {"registries": _registry_blocks(registries, openbao.url, google, azure, jfrog)}
    return _deploy(config, tmp_path_factory.mktemp("e2e-packaged"), _aws_env(store_proxy), logins,
                   "--env", f"E2E_VAULT_TOKEN={token}",
                   "--env", f"ACR_CLIENT_SECRET={azure.secret_value}")


@pytest.fixture(scope="session")
def deployed_from_ssm(stores, aws, store_proxy, tmp_path_factory) -> Deployment:
    """A deployment whose configuration is a YAML document in SSM Parameter Store."""
    import yaml

    logins, _ = stores
    config = {"registries": {"sm": {"host": "sm.example", "backend": {
        "type": "secretsmanager", "secret_id": "e2e/sm"}}}}
    aws("ssm").put_parameter(Name=SSM_SOURCE[4:], Value=yaml.safe_dump(config),
                                   Type="String", Overwrite=True)
    return _deploy(config, tmp_path_factory.mktemp("e2e-ssm"), _aws_env(store_proxy), logins,
                   "--config-source", SSM_SOURCE)
