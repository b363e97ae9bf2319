"""A rotated registry for the rotation tests: a secret in moto holding the first login, a
vendor stand-in whose logins a real registry's token server follows, and Secrets Manager's
own RotateSecret (moto's) driving the rotation function in this process."""

from __future__ import annotations

import contextlib
import json
import secrets as _random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

from broker.aws import AwsClients
from broker.cli import LocalContext
from broker.rotation.handler import RotationApp
from tests.support.registry_fixture import REPOSITORY, TAG

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:registry-broker-test-rotation"


def follow(vendor: Any, token_server: Any, access: dict | None = None) -> None:
    """Keep ``token_server``'s accounts equal to ``vendor``'s logins (pull on REPOSITORY, or
    ``access``), as a registry backed by the vendor's accounts would."""
    known: set[str] = set()

    def sync() -> None:
        for name in known:
            token_server.users.pop(name, None)
        for login in vendor.logins.values():
            token_server.users[login.username] = (login.password,
                                                  access if access is not None
                                                  else {REPOSITORY: {"pull"}})
            known.add(login.username)
    vendor.listeners.append(sync)
    sync()


@dataclass
class Rotated:
    """One rotated registry: its secret's name, configuration and rotation function."""

    name: str
    secret_id: str
    config: dict
    app: RotationApp
    client: Any

    def stages(self) -> dict[str, list[str]]:
        described = self.client.describe_secret(SecretId=self.secret_id)
        return described["VersionIdsToStages"]

    def value(self, stage: str = "AWSCURRENT") -> dict:
        text = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        return json.loads(text["SecretString"])

    def rotate(self) -> None:
        """RotateSecret, as the schedule would call it (once: no client retries); moto runs the
        four steps through :func:`secrets_manager_invokes`."""
        import boto3
        from botocore.config import Config

        once = boto3.client("secretsmanager", endpoint_url=self.client.meta.endpoint_url,
                            region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
        once.rotate_secret(SecretId=self.secret_id, RotationLambdaARN=FUNCTION_ARN,
                                  RotationRules={"AutomaticallyAfterDays": 30})

    def step(self, step: str, token: str, **kwargs: Any) -> dict:
        event = {"Step": step, "SecretId": self.secret_id, "ClientRequestToken": token}
        return self.app.run(event, LocalContext(timeout_ms=60_000), **kwargs)


def rotated_registry(aws: Any, moto: Any, vendor: Any, registry: Any, first: Any,
                     **extra: Any) -> Rotated:
    """A secret holding ``first`` (slot 0's login, stored by hand) and a configuration that
    rotates it with ``vendor``'s rotator, checked against ``registry`` (a DockerRegistry)."""
    name = f"rot{_random.token_hex(3)}"
    secret_id = f"prod/registry/{name}"
    client = aws("secretsmanager")
    client.create_secret(Name=secret_id, SecretString=json.dumps(
        {"username": first.username, "password": first.password}))
    block = {"host": registry.host, "insecure": True, "preflight": "enforce",
             "repository": REPOSITORY, "reference": TAG,
             "backend": {"type": "secretsmanager", "secret_id": secret_id},
             "rotation": vendor.block(), **extra}
    config = {"registries": {name: block}}
    app = RotationApp(json.dumps(config), vendor.environ(),
                      aws=AwsClients(endpoint_url=moto.url))
    return Rotated(name, secret_id, config, app, client)


@contextlib.contextmanager
def secrets_manager_invokes(rotated: Rotated, function: Any = None) -> Iterator[list[dict]]:
    """moto's RotateSecret invokes the rotation function: ``rotated``'s in this process (moto's
    server runs on a thread here), or ``function(event)`` (one in the Lambda runtime), whose
    error payload fails the step; yields the events it sent."""
    from moto.awslambda.models import LambdaBackend

    events: list[dict] = []

    def invoke(backend, function_name, qualifier, body, headers, response_headers):
        assert function_name == FUNCTION_ARN
        events.append(json.loads(body))
        if function is None:
            return json.dumps(rotated.app.run(events[-1], LocalContext(timeout_ms=60_000)))
        answer = function(events[-1])
        if "errorType" in answer:
            raise RuntimeError(f"{answer['errorType']}: {answer['errorMessage']}")
        return json.dumps(answer)

    with mock.patch.object(LambdaBackend, "get_function", lambda *a, **k: object()), \
            mock.patch.object(LambdaBackend, "invoke", invoke):
        yield events
