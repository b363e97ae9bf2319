"""The ecr backend: a minted 12-hour login, against moto in server mode, and the cache's
expiry rules over a simulated day against a stand-in that mints real 12-hour tokens."""

from __future__ import annotations

import base64
import datetime
import json
import secrets

import pytest

from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext
from broker.config import parse_config
from broker.errors import MalformedSecret
from broker.testing import MintedContract, MintingStore
from tests.backends.aws_store import AwsStore
from tests.support.clock import FakeClock
from tests.support.scripted import json_body

MOTO_EXPIRY = datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC).timestamp()  # moto's fixed one
HOUR = 3600.0

def statements(config, config_source=None):
    """The IAM statements the deployment model derives for ``config``."""
    from broker import deployment

    return deployment.model(config).statements(config_source)



def ecr_config(**backend) -> dict:
    return {"registries": {"ecr": {"host": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                                   "cache_ttl": 86400, "backend": {
                                       "type": "ecr", "repositories": ["team/trainer"], **backend}}}}


def test_the_minted_login_is_served_with_its_expiry(moto, log_lines):
    clock = FakeClock()
    app = App(json.dumps(ecr_config(registry_id="123456789012")), environ={},
              aws=AwsClients(endpoint_url=moto.url), clock=clock,
              wall=lambda: MOTO_EXPIRY - 12 * HOUR)
    answer = app.invoke({}, LocalContext("ecr"))
    assert answer == {"Credentials": {"Username": "AWS", "Password": "123456789012-auth-token"}}
    app.invoke({}, LocalContext("ecr"))
    lines = log_lines()
    assert [(x["source"], x["expires_in_s"]) for x in lines] == [("backend", 43200),
                                                                 ("cache", 43200)]


def test_iam_grants_the_token_and_pull_on_exactly_the_repositories():
    config = parse_config(ecr_config(repositories=["team/trainer", "team/server"],
                                     registry_id="210987654321", region="eu-west-1"), "t")
    found = {s["Sid"]: s for s in statements(config)}
    assert found["EcrGetAuthorizationToken"]["Resource"] == ["*"]
    pull = next(s for s in found.values() if "ecr:BatchGetImage" in s["Action"])
    assert pull["Resource"] == [
        "arn:${AWS::Partition}:ecr:eu-west-1:210987654321:repository/team/server",
        "arn:${AWS::Partition}:ecr:eu-west-1:210987654321:repository/team/trainer"]


def test_repositories_are_required_and_never_wildcards():
    for backend, key in (({"repositories": ["team/*"]}, "repositories[0]"),
                         ({"registry_id": "12345"}, "registry_id")):
        with pytest.raises(Exception) as info:
            parse_config(ecr_config(**backend), "t")
        assert f"registries.ecr.backend.{key}" in str(info.value)


class MintingEcr:
    """An ECR endpoint stand-in that mints a fresh 12-hour token on each request."""

    def __init__(self, scripted, wall) -> None:
        self.server = scripted("127.0.0.1")
        self.wall, self.minted = wall, []
        self.server.on("/", self.answer)

    @property
    def url(self) -> str:
        return f"http://{self.server.netloc}"

    def answer(self, request):
        token = f"token-{len(self.minted)}"
        self.minted.append((self.wall(), token))
        return json_body(json.dumps({"authorizationData": [{
            "authorizationToken": base64.b64encode(f"AWS:{token}".encode()).decode(),
            "expiresAt": self.wall() + 12 * HOUR, "proxyEndpoint": "https://x"}]}))


def test_a_day_of_invocations_refreshes_at_half_life_and_serves_none_with_less(scripted):
    clock, now = FakeClock(start=0.0), [1_800_000_000.0]
    ecr = MintingEcr(scripted, lambda: now[0])
    app = App(json.dumps(ecr_config()), environ={}, clock=clock, wall=lambda: now[0],
              aws=AwsClients(endpoint_url=ecr.url))
    served_at: list[tuple[float, str]] = []
    for _ in range(24 * 60):  # one invocation a minute for 24 hours
        served_at.append((now[0], app.invoke({}, LocalContext("ecr"))["Credentials"]["Password"]))
        clock.advance(60)
        now[0] += 60
    minted = dict((token, at) for at, token in ecr.minted)
    assert len(ecr.server.requests) == len(minted) == 4  # 0:00, 6:00, 12:00, 18:00
    assert all(at < minted[token] + 6 * HOUR for at, token in served_at), \
        "a login was served with less than half its life left"


def test_a_token_without_base64_is_malformed(scripted):
    server = scripted("127.0.0.1").on("/", json_body(json.dumps({"authorizationData": [{
        "authorizationToken": "%%%", "expiresAt": 2e9}]})))
    app = App(json.dumps(ecr_config()), environ={}, aws=AwsClients(
        endpoint_url=f"http://{server.netloc}"))
    with pytest.raises(MalformedSecret, match="not base64"):
        app.invoke({}, LocalContext("ecr"))


def test_broker_invoke_prints_the_expiry(scripted, capsys, tmp_path, monkeypatch):
    import time

    from broker.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", MintingEcr(scripted, time.time).url)
    path = tmp_path / "broker.json"
    path.write_text(json.dumps(ecr_config()))
    assert main(["invoke", "--config", str(path), "--alias", "ecr"]) == 0
    err = capsys.readouterr().err
    assert "note: this login expires in 43199 s" in err or "expires in 43200 s" in err


class EcrStore(AwsStore, MintingStore):
    """moto's ECR behind a stoppable proxy; it mints ``<registry id>-auth-token``, expiring
    at one fixed instant, so the time of day starts twelve hours before it."""

    backend_type = "ecr"
    lifetime = 12 * HOUR
    wall_start = MOTO_EXPIRY - 12 * HOUR
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

    def __init__(self, aws, proxy) -> None:
        super().__init__(aws, proxy)
        self.ref = f"{secrets.randbelow(10**12):012d}"  # the registry id, named by errors

    def backend(self) -> dict:
        return {"type": "ecr", "registry_id": self.ref, "repositories": ["team/trainer"]}

    def mint(self, password: str) -> None:
        pass  # moto's token is fixed: the contract only needs one

    def expected(self, password: str) -> tuple[str, str]:
        return "AWS", f"{self.ref}-auth-token"


@pytest.fixture
def store(aws, moto, proxy_to):
    return EcrStore(aws, proxy_to(moto))


class TestEcr(MintedContract):
    """The contract every minting backend passes, against moto in server mode."""


def test_two_ecr_registries_minting_as_one_identity_are_refused():
    """An ECR token carries every pull grant of its identity: alias a would pull b's images."""
    def two(role_a=None, role_b=None) -> dict:
        block = ecr_config()["registries"]["ecr"]
        return {"registries": {
            "a": {**block, "backend": {**block["backend"], "repositories": ["team-a/x"],
                                       **({"role_arn": role_a} if role_a else {})}},
            "b": {**block, "backend": {**block["backend"], "repositories": ["team-b/y"],
                                       **({"role_arn": role_b} if role_b else {})}}}}
    role = "arn:aws:iam::123456789012:role/ecr-puller"
    for config, who in ((two(), "the function's own role"), (two(role, role), f"role {role}")):
        with pytest.raises(Exception) as info:
            parse_config(config, "t")
        assert f"registries.b.backend: 'b' and 'a' both mint through an ECR token of {who}" \
            in str(info.value)
    parse_config(two(role_b=role), "t")  # the function's role for one, its own role for the other


@pytest.mark.parametrize("data", [
    {"authorizationToken": base64.b64encode(b"AWS:t").decode()},  # no expiresAt
    {"authorizationToken": base64.b64encode(b"AWS:t").decode(), "expiresAt": 1.0},  # 1970
    {"authorizationToken": base64.b64encode(b"no-colon").decode(), "expiresAt": 4e9},
])
def test_an_ecr_answer_without_a_usable_token_or_expiry_is_malformed(scripted, data):
    server = scripted("127.0.0.1").on("/", json_body(json.dumps({"authorizationData": [data]})))
    app = App(json.dumps(ecr_config()), environ={}, aws=AwsClients(
        endpoint_url=f"http://{server.netloc}"))
    with pytest.raises(MalformedSecret):
        app.invoke({}, LocalContext("ecr"))
