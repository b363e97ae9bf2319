"""`broker schema`: a JSON Schema generated from validate's own definitions; they agree."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from broker import config_schema
from broker.cli import main
from broker.config import parse_config
from broker.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "broker.yml"
SM = {"type": "secretsmanager", "secret_id": "team/registry"}


ROTATION = {"type": "harbor-robot", "schedule": "rate(30 days)", "url": "https://h.example",
            "admin": {"secretsmanager": "team/harbor-admin"}, "robots": [7, 8]}


def registry(**overrides) -> dict:
    return {"registries": {"r": {"host": "r.example", "backend": SM, **overrides}}}


GOOD = [
    registry(),
    registry(preflight="enforce", repository="team/app", reference="v1",
             trusted_realms=["auth.example.com"], timeout=3, cache_ttl=0),
    registry(backend={"type": "ssm", "parameter": "/reg/login", "format": "dockerconfigjson"}),
    registry(backend={"type": "vault", "address": "https://vault.internal", "path": "p",
                      "auth": {"method": "token", "token": {"env": "T"}}}),
    registry(match="r.example/team/*", invokers="arn:aws:iam::123456789012:role/Trainer"),
    {"defaults": {"preflight": "warn", "retries": 0}, "event_selection": False, **registry()},
    registry(repository="team/app", rotation=ROTATION),
    registry(backend={"type": "artifactory", "url": "https://acme.jfrog.io"},
             refresh_fraction=0.25),
]
BAD = [
    registry(repository="team/app", rotation={**ROTATION, "robots": "7"}),
    registry(repository="team/app", rotation={**ROTATION, "type": "harbour-robot"}),
    registry(repository="team/app", rotation={**ROTATION, "admin": "a-literal"}),
    registry(repository="team/app", rotation={**ROTATION, "url": "http://h.example"}),
    registry(backend={"type": "artifactory", "url": "https://acme.jfrog.io", "extra": 1}),
    {},
    {"registries": {}},
    {"registries": {"12345": {"host": "r.example", "backend": SM}}},
    registry(cache_ttl=-1),
    registry(timeout="5"),
    registry(preflight="always"),
    registry(extra=True),
    registry(host="https://r.example/v2"),
    registry(backend={"type": "keychain"}),
    registry(backend={"type": "secretsmanager"}),
    registry(backend={**SM, "secret_id": "prod/*"}),
    registry(backend={**SM, "role_arn": "*"}),
    registry(backend={"type": "vault", "address": "https://v", "path": "p",
                      "auth": {"method": "token", "token": "a-literal-token"}}),
    registry(backend={"type": "env", "username_var": "U", "password_var": "P", "other": 1}),
    {"registries": {"r": {"backend": SM}}},
]


@pytest.fixture(scope="module")
def validator():
    schema = config_schema.document()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_example_configuration_is_valid(validator):
    assert list(validator.iter_errors(yaml.safe_load(EXAMPLE.read_text()))) == []


@pytest.mark.parametrize("document", GOOD)
def test_both_accept(validator, document):
    parse_config(document, "test")
    assert list(validator.iter_errors(document)) == []


@pytest.mark.parametrize("document", BAD)
def test_both_refuse(validator, document):
    with pytest.raises(ConfigError):
        parse_config(document, "test")
    assert list(validator.iter_errors(document)) != []


def test_schema_command_prints_it(capsys):
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed == config_schema.document()
