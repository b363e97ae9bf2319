"""GitLab's catches, through the whole rotation: a rotated token gets a new id (kept in the
secret), and reusing a rotated-away token revokes the whole family, so the broker must never
present one: not after a failed rotation, not from its cache, not while serving stale."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext
from broker.login import Login
from broker.preflight import Result
from broker.testing import FakeClock
from tests.support.faults import SERVER_ERROR, FaultProxy
from tests.support.rotation import rotated_registry, secrets_manager_invokes
from tests.support.vendors.gitlab import GitLabStandIn

DAY = 86400.0


@pytest.fixture
def gitlab(tmp_path):
    stand_in = GitLabStandIn(tmp_path)
    yield stand_in
    stand_in.stop()


class _Registry:
    host = "gitlab-registry.example.com"


@pytest.fixture
def rotated(aws, moto, gitlab, monkeypatch):
    """A registry rotated with gitlab-token; the preflight asks the stand-in (GitLab's own
    registry is not runnable here) whether GitLab would take the pending token."""
    first = gitlab.logins[101]
    found = rotated_registry(aws, moto, gitlab, _Registry(), Login("gitlab-access-token",
                                                                   first.password))
    found.passing = True

    def context(registry, client, deadline, local=False):
        ctx = type(found.app).context(found.app, registry, client, deadline, local)
        return ctx._replace(check=lambda reg, login: Result(
            reg.name, found.passing and gitlab.accepts(login), "bearer", "asked the stand-in",
            step="token"))
    monkeypatch.setattr(found.app, "context", context)
    return found


def test_a_rotation_that_failed_after_gitlab_rotated_is_retried_from_the_new_token(
        rotated, gitlab):
    rotated.passing = False
    with secrets_manager_invokes(rotated), pytest.raises(ClientError):
        rotated.rotate()
    assert set(gitlab.logins) == {101, 103}  # GitLab rotated 102: it is revoked now
    rotated.passing = True
    with secrets_manager_invokes(rotated):
        rotated.rotate()
    assert gitlab.families_revoked == [], "the retry rotated a revoked token: family revoked"
    assert rotated.value()["rotation"]["ids"] == [101, 104]
    assert gitlab.accepts(Login("x", rotated.value()["password"]))
    assert gitlab.wrong == []


def test_the_broker_never_presents_a_rotated_away_token(rotated, gitlab, moto):
    """A year of monthly rotations. The broker serves every day; on a rotation day it serves
    from its cache, the rotation runs, and Secrets Manager goes down: it serves its stale
    login (the one just replaced), as stale_if_error allows."""
    clock, proxy = FakeClock(), FaultProxy(("127.0.0.1", moto.port))
    config = json.loads(json.dumps(rotated.config))
    config["registries"][rotated.name]["preflight"] = "off"
    app = App(json.dumps(config), {}, aws=AwsClients(endpoint_url=proxy.url), clock=clock)

    def presented() -> None:
        answer = app.invoke({}, LocalContext(rotated.name))["Credentials"]
        assert gitlab.accepts(Login(answer["Username"], answer["Password"]))
    try:
        for day in range(365):
            presented()
            if day % 30 == 0:
                with secrets_manager_invokes(rotated):
                    rotated.rotate()
                clock.advance(400)  # past cache_ttl, within stale_if_error
                proxy.plan = [SERVER_ERROR] * 10
                presented()
                proxy.plan = []
            clock.advance(DAY)
    finally:
        proxy.stop()
    assert gitlab.families_revoked == []
    assert len(gitlab.rotated_away) == 13
    assert all(expiry for expiry in gitlab.expiries)


def test_a_token_edited_into_the_record_is_never_rotated(rotated, gitlab):
    """GitLab's ids change, so the record is used: each id is asked about first, and a token
    that may do more than read the registry (a push or api token) is refused."""
    push = gitlab.foreign_id()
    first = gitlab.logins[101]
    rotated.client.put_secret_value(SecretId=rotated.secret_id, SecretString=json.dumps({
        "username": "gitlab-access-token", "password": first.password,
        "rotation": {"slot": 0, "ids": [101, push], "made": "2026-01-01T00:00:00Z"}}))
    with secrets_manager_invokes(rotated), pytest.raises(ClientError):
        rotated.rotate()
    assert push in gitlab.logins and not any(r.path.endswith("/rotate") for r in gitlab.requests)
