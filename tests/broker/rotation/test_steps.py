"""The four rotation steps against moto's Secrets Manager (real version stages, its own
RotateSecret driving the function), a Harbor stand-in and a real registry checking logins."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext
from broker.errors import BrokerError, RotationFailed
from broker.login import Login
from broker.testing import assert_clean, leaks_in
from tests.support.rotation import secrets_manager_invokes


def served(rotated, moto) -> Login:
    """The login the broker serves for the rotated registry (preflight: enforce)."""
    app = App(json.dumps(rotated.config), {}, aws=AwsClients(endpoint_url=moto.url))
    answer = app.invoke({}, LocalContext(rotated.name))["Credentials"]
    return Login(answer["Username"], answer["Password"])


def labels(rotated) -> dict[str, str]:
    """Stage -> version id."""
    return {stage: version for version, stages in rotated.stages().items() for stage in stages}


def test_a_rotation_renews_the_login_not_current_and_keeps_the_current_one_working(
        rotated, harbor, moto, log_lines):
    first = harbor.logins[7]
    with secrets_manager_invokes(rotated) as events:
        rotated.rotate()
    assert [e["Step"] for e in events] == ["createSecret", "setSecret", "testSecret",
                                           "finishSecret"]
    current, previous = rotated.value("AWSCURRENT"), rotated.value("AWSPREVIOUS")
    assert (current["username"], current["password"]) == (harbor.logins[8].username,
                                                           harbor.logins[8].password)
    assert current["rotation"]["slot"] == 1 and current["rotation"]["ids"] == [7, 8]
    assert (previous["username"], previous["password"]) == (first.username, first.password)
    assert harbor.accepts(first), "the login served before the rotation stopped working"
    assert served(rotated, moto) == harbor.logins[8]
    assert "AWSPENDING" not in labels(rotated)
    lines = [line for line in log_lines() if line.get("event") == "rotation_step"]
    assert [(line["step"], line["RotationFailed"]) for line in lines] == [
        ("createSecret", 0), ("setSecret", 0), ("testSecret", 0), ("finishSecret", 0)]
    assert {line["registry"] for line in lines} == {rotated.name}
    assert all(line["rotator"] == "harbor-robot" and line["duration_ms"] >= 0 for line in lines)
    assert not leaks_in(json.dumps(lines))
    assert harbor.wrong == []


def test_rotations_alternate_and_the_previous_login_works_until_the_next(rotated, harbor, moto):
    seen = []
    for _ in range(3):
        with secrets_manager_invokes(rotated):
            rotated.rotate()
        seen.append(served(rotated, moto))
        previous = rotated.value("AWSPREVIOUS")
        assert harbor.accepts(Login(previous["username"], previous["password"]))
    assert [login.username for login in seen] == [harbor.names[8], harbor.names[7],
                                                  harbor.names[8]]
    assert [rotated.value()["rotation"]["slot"]] == [1]


def test_every_step_run_twice_ends_as_once(rotated, harbor, moto):
    token = str(uuid.uuid4())
    rotated.step("createSecret", token, local=True)
    for step in ("createSecret", "setSecret", "testSecret", "testSecret", "finishSecret",
                 "finishSecret", "testSecret"):
        rotated.step(step, token, local=True)
    assert [r.method for r in harbor.requests].count("PATCH") == 1
    assert labels(rotated)["AWSCURRENT"] == token
    assert served(rotated, moto) == harbor.logins[8]


def test_a_pending_login_that_fails_the_preflight_leaves_current_untouched(
        rotated, harbor, registries, moto, log_lines):
    before = labels(rotated)["AWSCURRENT"]
    registries.token_server.users[harbor.names[8]] = ("not-the-new-secret", {})
    harbor.listeners.clear()  # the registry no longer follows Harbor: robot 8 cannot log in
    with secrets_manager_invokes(rotated), pytest.raises(ClientError):
        rotated.rotate()
    assert labels(rotated)["AWSCURRENT"] == before
    assert served(rotated, moto) == harbor.logins[7]
    failed = [line for line in log_lines() if line.get("outcome") == "failed"]
    assert [line["step"] for line in failed] == ["testSecret"]
    assert failed[0]["RotationFailed"] == 1
    assert "failed the preflight at step 'token'" in failed[0]["error"]
    assert not leaks_in(json.dumps(log_lines()))


def test_after_a_failed_test_the_next_rotation_starts_clean(rotated, harbor, registries, moto):
    from tests.support.rotation import follow

    listeners = list(harbor.listeners)
    harbor.listeners.clear()
    with secrets_manager_invokes(rotated), pytest.raises(ClientError):
        rotated.rotate()
    harbor.listeners.extend(listeners)
    follow(harbor, registries.token_server)
    with secrets_manager_invokes(rotated):
        rotated.rotate()
    assert served(rotated, moto) == harbor.logins[8]
    assert rotated.value("AWSPREVIOUS")["password"] == harbor.logins[7].password


@pytest.mark.parametrize("event, said", [
    ({"Step": "dropTables", "SecretId": "x", "ClientRequestToken": "a" * 36}, "not a Secrets"),
    ({"Step": "createSecret", "SecretId": "x", "ClientRequestToken": "../../"}, "not a Secrets"),
    ([1, 2], "not a Secrets Manager rotation request"),
])
def test_an_event_that_is_no_rotation_request_is_refused(rotated, event, said):
    with pytest.raises(RotationFailed, match=said):
        rotated.app.run(event, LocalContext())


def test_a_secret_not_enabled_for_rotation_is_refused(rotated):
    with pytest.raises(RotationFailed, match="rotation is not enabled on the secret"):
        rotated.step("createSecret", str(uuid.uuid4()))


def test_a_version_that_is_not_pending_is_refused(rotated):
    current = labels(rotated)["AWSCURRENT"]
    other = str(uuid.uuid4())
    rotated.client.put_secret_value(SecretId=rotated.secret_id, ClientRequestToken=other,
                                    SecretString="{}", VersionStages=["HANDMADE"])
    with pytest.raises(RotationFailed, match="not staged|no longer AWSPENDING"):
        rotated.step("finishSecret", other, local=True)
    assert labels(rotated)["AWSCURRENT"] == current
    with pytest.raises(RotationFailed, match="not staged for rotation"):
        rotated.step("finishSecret", str(uuid.uuid4()), local=True)


def test_a_secret_no_registry_rotates_is_refused(rotated, aws):
    aws("secretsmanager").create_secret(Name="prod/unrelated", SecretString="{}")
    event = {"Step": "createSecret", "SecretId": "prod/unrelated",
             "ClientRequestToken": str(uuid.uuid4())}
    with pytest.raises(BrokerError, match="no registry in .* rotates the secret prod/unrelated"):
        rotated.app.run(event, LocalContext(), local=True)


def test_a_refused_admin_credential_fails_create_and_leaks_nothing(rotated, harbor, log_lines):
    harbor.admin = Login("admin", "changed-by-someone")
    with secrets_manager_invokes(rotated), pytest.raises(ClientError):
        rotated.rotate()
    assert rotated.value()["password"] == harbor.logins[7].password
    failed = [line for line in log_lines() if line.get("outcome") == "failed"]
    assert failed[0]["step"] == "createSecret"
    assert "admin credential was refused (HTTP 401)" in failed[0]["error"]
    assert not leaks_in(json.dumps(log_lines()))


def test_an_unexpected_error_is_reported_without_its_message(rotated, monkeypatch):
    from broker.rotation import steps

    def boom(*args, **kwargs):
        raise ValueError(f"value {rotated.value()['password']}")
    monkeypatch.setattr(steps, "_create", boom)
    with pytest.raises(RotationFailed) as info:
        rotated.step("createSecret", str(uuid.uuid4()), local=True)
    assert "unexpected ValueError" in str(info.value)
    assert_clean(info.value)


# --- An attacker's read: a writer of the secret, two rotations at once, a step out of time ----

def _record(rotated, harbor, ids, made="2026-01-01T00:00:00Z", **extra) -> None:
    first = harbor.logins[7]
    rotated.client.put_secret_value(SecretId=rotated.secret_id, SecretString=json.dumps({
        "username": first.username, "password": first.password,
        "rotation": {"slot": 0, "ids": ids, "made": made}}), **extra)


def test_a_record_naming_another_teams_robot_never_renews_it(rotated, harbor):
    """Harbor's ids never change: the configured robots only, whatever the secret records."""
    foreign = harbor.foreign_id()
    before = harbor.logins[foreign]
    _record(rotated, harbor, [7, foreign])
    with secrets_manager_invokes(rotated):
        rotated.rotate()
    assert {r.path for r in harbor.requests} == {"/api/v2.0/robots/8"}
    assert harbor.accepts(before), "another team's robot lost its secret"
    assert rotated.value()["rotation"]["ids"] == [7, 8]


def test_an_id_that_is_no_id_never_reaches_a_url(rotated, harbor):
    _record(rotated, harbor, [7, ".."])
    for _ in range(2):  # the stored record, then an unstaged version claiming to be newer
        with secrets_manager_invokes(rotated):
            rotated.rotate()
    assert all(r.path.startswith("/api/v2.0/robots/") and r.path[-1].isdigit()
               for r in harbor.requests)


def test_a_rotation_that_begins_meanwhile_stops_broker_rotate_before_it_renews(
        rotated, harbor, monkeypatch):
    from broker.rotation import steps

    checked = steps._check_time

    def scheduled_rotation_begins(ctx, cls):
        checked(ctx, cls)
        rotated.client.put_secret_value(SecretId=rotated.secret_id, SecretString="{}",
                                        ClientRequestToken=str(uuid.uuid4()),
                                        VersionStages=["AWSPENDING"])
    monkeypatch.setattr(steps, "_check_time", scheduled_rotation_begins)
    with pytest.raises(RotationFailed, match="another rotation of the secret began meanwhile"):
        rotated.step("createSecret", str(uuid.uuid4()), local=True)
    assert [r.method for r in harbor.requests] == []


def test_a_renewal_starts_only_when_it_and_its_store_fit_the_step(rotated, harbor):
    event = {"Step": "createSecret", "SecretId": rotated.secret_id,
             "ClientRequestToken": str(uuid.uuid4())}
    with pytest.raises(RotationFailed, match="not enough time left in the step for a renewal"):
        rotated.app.run(event, LocalContext(timeout_ms=5_000), local=True)
    assert harbor.requests == [], "a renewal began that its store could not follow"


def test_no_aws_region_is_a_clear_error(rotated, monkeypatch):
    from broker.aws import AwsClients
    from broker.errors import BackendUnavailable

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    rotated.app.aws = AwsClients(endpoint_url="http://127.0.0.1:9")
    with pytest.raises(BackendUnavailable, match="no valid AWS region is configured"):
        rotated.step("createSecret", str(uuid.uuid4()), local=True)


@pytest.mark.parametrize("record", [{"slot": "1", "ids": [7, 8]}, {"slot": 0, "ids": [7]},
                                    "rotated", {"slot": 0, "ids": {"7": 8}}])
def test_a_garbled_record_fails_closed_and_names_the_fix(rotated, harbor, record):
    first = harbor.logins[7]
    rotated.client.put_secret_value(SecretId=rotated.secret_id, SecretString=json.dumps({
        "username": first.username, "password": first.password, "rotation": record}))
    with pytest.raises(RotationFailed, match="not what a rotation wrote") as info:
        rotated.step("createSecret", str(uuid.uuid4()), local=True)
    assert harbor.requests == [] and rotated.value()["password"] == first.password
    assert_clean(info.value)
