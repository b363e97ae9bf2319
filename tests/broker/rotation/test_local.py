"""``broker rotate NAME`` from a workstation: the same steps, --dry-run, --status."""

from __future__ import annotations

import json
import uuid

import pytest

from broker.cli import main
from broker.testing import leaks_in


@pytest.fixture
def workstation(rotated, harbor, moto, monkeypatch, tmp_path):
    """The rotated registry's configuration in a file, and this shell's environment."""
    path = tmp_path / "broker.yml"
    path.write_text(json.dumps(rotated.config))
    for name, value in {**harbor.environ(), "AWS_ENDPOINT_URL": moto.url,
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    return ["--config", str(path), rotated.name]


def run(capsys, *args) -> tuple[int, str]:
    """The exit code and what was printed (stderr's JSON log lines aside)."""
    code = main(["rotate", *args])
    captured = capsys.readouterr()
    assert not leaks_in(captured.out + captured.err)
    errors = [line for line in captured.err.splitlines() if not line.startswith("{")]
    return code, "\n".join([*captured.out.splitlines(), *errors])


def test_dry_run_says_what_it_would_do_and_changes_nothing(workstation, rotated, capsys):
    before = rotated.stages()
    code, output = run(capsys, *workstation, "--dry-run")
    assert code == 0, output
    assert "createSecret: renew login 1 (8) with harbor-robot" in output
    assert "rotation not enabled on the secret" in output
    assert "dry run: nothing was changed" in output
    assert rotated.stages() == before


def test_rotate_runs_the_four_steps_then_status_shows_the_stages(workstation, rotated, harbor,
                                                               capsys):
    code, output = run(capsys, *workstation)
    assert code == 0, output
    assert [line.split(":")[0] for line in output.splitlines()] == [
        "createSecret", "setSecret", "testSecret", "finishSecret"]
    assert rotated.value()["password"] == harbor.logins[8].password
    code, output = run(capsys, *workstation, "--status")
    assert code == 0
    current = next(line for line in output.splitlines() if "AWSCURRENT" in line)
    previous = next(line for line in output.splitlines() if "AWSPREVIOUS" in line)
    assert "login 1" in current and "made 20" in current
    assert "login - " in previous or "made by hand" in previous


def test_a_rotation_in_progress_is_not_started_again(workstation, rotated, capsys):
    rotated.client.put_secret_value(SecretId=rotated.secret_id, SecretString="{}",
                                    ClientRequestToken=str(uuid.uuid4()),
                                    VersionStages=["AWSPENDING"])
    code, output = run(capsys, *workstation)
    assert code == 1
    assert "a rotation is in progress" in output and "--status" in output


def test_a_registry_without_rotation_is_named(workstation, capsys):
    code, output = run(capsys, *workstation[:2], "nosuch")
    assert code == 1
    assert "registry 'nosuch' has no `rotation` block" in output


def test_a_secret_named_by_arn_is_read_in_the_region_its_arn_names(rotated, monkeypatch):
    """As the broker reads it: `region`, else the region the secret's (or its key's) ARN names."""
    import dataclasses

    from broker.rotation.local import Workstation

    registry = rotated.app.config().registries[rotated.name]
    elsewhere = registry._replace(backend=dataclasses.replace(
        registry.backend, secret_id="arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"))
    asked = []
    monkeypatch.setattr(rotated.app.aws, "client", lambda service, **kw: asked.append(kw))
    Workstation(rotated.app, elsewhere)
    assert asked == [{"region": "eu-west-1"}]
