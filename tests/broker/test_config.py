"""Configuration: sources, inheritance, and every problem reported at once with its key path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import backends
from broker.aws import AwsClients
from broker.config import load_config, parse_config, resolve_source
from broker.errors import ConfigError
from tests.support import leaks

EXAMPLE = Path(__file__).parents[2] / "examples" / "broker.yml"


def problems_of(document, environ=None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(document, "test.yml", environ)
    leaks.assert_clean(info.value)
    return dict(info.value.problems)


def env_registry(**extra):
    return {"host": "r.example", "backend": {"type": "env", "username_var": "U",
                                             "password_var": "P"}, **extra}


def test_example_config_parses_with_inheritance():
    config = load_config(str(EXAMPLE), environ={})
    assert config.names == ["acme", "harbor", "quay", "partner"]
    acme, harbor = config.registries["acme"], config.registries["harbor"]
    assert (acme.cache_ttl, acme.stale_if_error, acme.timeout) == (300, 3600, 5)
    assert harbor.cache_ttl == 600
    assert harbor.match == ("harbor.internal/*",)
    assert config.registries["quay"].backend.auth.role == "registry-broker"
    assert config.registries["partner"].backend.format == "dockerconfigjson"
    assert config.backend_types() == {"secretsmanager", "ssm", "vault"}


def test_config_is_frozen():
    config = parse_config({"registries": {"a": env_registry()}}, "x")
    with pytest.raises(AttributeError):
        config.registries["a"].host = "evil.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.registries["b"] = config.registries["a"]  # type: ignore[index]


def test_every_problem_is_reported_at_once():
    found = problems_of({
        "defaults": {"cache_ttl": -1, "stael_if_error": 5},
        "registries": {
            "ok": env_registry(),
            "bad host": env_registry(),
            "s": {"host": "https://s.example/v2", "backend": {"type": "secretsmanager"}},
            "v": {"host": "v.example", "backend": {"type": "vault", "path": "p",
                                                   "kv_version": 3, "auth": {"method": "ldap"}}},
            "q": {"host": "q.example", "backend": {"type": "ssm", "parameter": "/a",
                                                   "password_parameter": "/b"}},
            "t": {"host": "t.example", "backend": {"type": "keychain"}},
        },
        "extra": True,
    })
    assert found == {
        "extra": "unknown key (valid: defaults, registries, event_selection)",
        "defaults.stael_if_error": "unknown key (did you mean 'stale_if_error'?) (valid: "
                                   "cache_ttl, stale_if_error, expiry_skew, refresh_fraction, "
                                   "timeout, retries, preflight, trusted_realms, insecure, "
                                   "ca_bundle)",
        "defaults.cache_ttl": "must be at least 0",
        "registries.bad host": found["registries.bad host"],
        "registries.s.host": found["registries.s.host"],
        "registries.s.backend.secret_id": "required",
        "registries.v.backend.address": "required (or set VAULT_ADDR)",
        "registries.v.backend.kv_version": "must be one of 1, 2",
        "registries.v.backend.auth.method": "must be one of aws, approle, token",
        "registries.q.backend.parameter": found["registries.q.backend.parameter"],
        "registries.t.backend.type": f"unknown backend type (valid: {', '.join(backends.names())})",
    }
    assert "Lambda alias" in found["registries.bad host"]
    assert "without scheme or path" in found["registries.s.host"]
    assert "either `parameter`" in found["registries.q.backend.parameter"]


@pytest.mark.parametrize("name, ok", [
    ("acme", True), ("a_b-C9", True), ("x" * 128, True),
    ("12345", False), ("x" * 129, False), ("a.b", False), ("", False),
])
def test_registry_names_must_be_usable_as_lambda_aliases(name, ok):
    document = {"registries": {name: env_registry()}}
    if ok:
        assert parse_config(document, "x").names == [name]
    else:
        assert f"registries.{name}" in problems_of(document)


def test_an_invalid_registry_name_does_not_hide_the_problems_of_its_block():
    found = problems_of({"registries": {"bad name!": {"host": "h.example", "backend": {
        "type": "nosuch"}}}})
    assert set(found) == {"registries.bad name!", "registries.bad name!.backend.type"}
    assert "unknown backend type" in found["registries.bad name!.backend.type"]


def test_literal_secret_is_refused_without_being_echoed():
    token = leaks.secret("vault-token")
    found = problems_of({"registries": {"v": {"host": "v.example", "backend": {
        "type": "vault", "address": "https://v:8200", "path": "p",
        "auth": {"method": "token", "token": token}}}}})
    assert "literal secret" in found["registries.v.backend.auth.token"]


def test_auth_keys_must_fit_the_method():
    found = problems_of({"registries": {"v": {"host": "v.example", "backend": {
        "type": "vault", "address": "https://v:8200", "path": "p",
        "auth": {"method": "approle", "role_id": "abc", "role": "x"}}}}})
    assert found == {"registries.v.backend.auth.secret_id": "required for this auth method",
                     "registries.v.backend.auth.role": "only applies to auth method 'aws'"}


def test_vault_address_from_environment_unless_given():
    vault = {"type": "vault", "path": "p", "auth": {"method": "token", "token": {"env": "T"}}}
    doc = {"registries": {"v": {"host": "v.example", "backend": vault}}}
    from_env = parse_config(doc, "x", {"VAULT_ADDR": "https://env:8200"})
    assert from_env.registries["v"].backend.address == "https://env:8200"
    explicit = {"registries": {"v": {"host": "v.example",
                                     "backend": {**vault, "address": "https://file:8200"}}}}
    assert parse_config(explicit, "x", {"VAULT_ADDR": "https://env:8200"}).registries[
        "v"].backend.address == "https://file:8200"


@pytest.mark.parametrize("document, path, message", [
    (None, "", "must be a mapping, not a null"),
    ({"registries": {}}, "registries", "must name at least one registry"),
    ({"registries": []}, "registries", "must be a mapping, not a list"),
    ({"registries": {"a": env_registry(timeout=0)}}, "registries.a.timeout", "must be at least 0.1"),
    ({"registries": {"a": env_registry(cache_ttl="5m")}}, "registries.a.cache_ttl",
     "must be a number, not a string"),
    ({"registries": {"a": env_registry(match=[])}}, "registries.a.match", "must be a non-empty list"),
    ({"registries": {"a": {"host": "h"}}}, "registries.a.backend", "required"),
])
def test_single_problems(document, path, message):
    assert problems_of(document) == {path: message}


def test_source_precedence(tmp_path):
    assert resolve_source("explicit.yml", {"BROKER_CONFIG": "env.yml"}) == "explicit.yml"
    assert resolve_source(None, {"BROKER_CONFIG": "env.yml"}) == "env.yml"
    assert resolve_source(None, {"LAMBDA_TASK_ROOT": "/var/task"}) == "/var/task/broker.yml"
    (tmp_path / "broker.json").write_text("{}")
    assert resolve_source(None, {"LAMBDA_TASK_ROOT": str(tmp_path)}) == str(tmp_path / "broker.json")
    (tmp_path / "broker.yml").write_text("")
    assert resolve_source(None, {"LAMBDA_TASK_ROOT": str(tmp_path)}) == str(tmp_path / "broker.yml")


@pytest.mark.parametrize("name, text", [
    ("broker.yml", "registries:\n  a: {host: h, backend: {type: env, username_var: U, password_var: P}}\n"),
    ("broker.yaml", "registries:\n  a: {host: h, backend: {type: env, username_var: U, password_var: P}}\n"),
    ("broker.json", json.dumps({"registries": {"a": env_registry()}})),
])
def test_file_sources(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert load_config(str(tmp_path / name), environ={}).names == ["a"]


def test_inline_json_source():
    assert load_config(json.dumps({"registries": {"a": env_registry()}}), environ={}).names == ["a"]


@pytest.mark.parametrize("name, text, message", [
    ("missing.yml", None, "does not exist"),
    ("broker.txt", "x", "must end in .yml, .yaml or .json"),
    ("broker.yml", "registries: [unclosed", "not valid YAML"),
    ("broker.json", "{nope", "not valid JSON"),
])
def test_unreadable_sources(tmp_path, name, text, message):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / name), environ={})
    assert message in str(info.value) and name in str(info.value)


def test_ssm_parameter_source(aws, moto):
    document = json.dumps({"registries": {"a": env_registry()}})
    aws("ssm").put_parameter(Name="/broker/config-src", Value=document, Type="SecureString",
                             Overwrite=True)
    config = load_config("ssm:/broker/config-src", environ={},
                         aws=AwsClients(endpoint_url=moto.url))
    assert config.names == ["a"] and config.source == "ssm:/broker/config-src"


def test_missing_ssm_parameter_source(moto):
    with pytest.raises(ConfigError) as info:
        load_config("ssm:/broker/nothing-here", environ={}, aws=AwsClients(endpoint_url=moto.url))
    assert "ssm:/broker/nothing-here" in str(info.value) and "does not exist" in str(info.value)


def test_a_built_in_backend_left_out_of_the_package_is_a_config_problem(monkeypatch):
    # deploy/build.py ships only the backend modules the configuration uses
    monkeypatch.setitem(backends.KNOWN, "ghost", "backends.ghost:GhostBackend")
    with pytest.raises(ConfigError) as info:
        parse_config({"registries": {"g": {"host": "r.example", "backend": {"type": "ghost"}}}}, "t")
    assert "registries.g.backend.type: a built-in backend this deployment was not packaged " \
           "with: rebuild" in str(info.value)


# --- Issue 17, item 3: validate catches what the deploy or the run would hit ----------------

def first_problems(backend: dict | None = None, **registry) -> str:
    document = {"registries": {"r": {"host": "r.example.com", "backend": backend or {
        "type": "secretsmanager", "secret_id": "s"}, **registry}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "test")
    return str(caught.value)


def test_an_unknown_region_is_refused_offline_with_the_nearest_name():
    message = first_problems({"type": "secretsmanager", "secret_id": "s", "region": "eu-wset-1"})
    assert ("registries.r.backend.region: is not an AWS region (did you mean 'eu-west-1'?)"
            in message)


def test_every_region_botocore_knows_passes():
    from broker.aws import known_regions

    regions = sorted(known_regions())
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= set(regions)
    for region in regions:
        parse_config({"registries": {"r": {"host": "r.example.com", "backend": {
            "type": "secretsmanager", "secret_id": "s", "region": region}}}}, "test")


@pytest.mark.parametrize("realm", ["https://auth.example.com/token", "auth.example.com:443",
                                   "user@auth.example.com"])
def test_a_trusted_realm_that_is_a_url_is_refused(realm):
    assert "registries.r.trusted_realms[0]: must be a host name or a glob" in \
        first_problems(trusted_realms=[realm])


def test_ssm_names_in_a_hierarchy_start_with_a_slash():
    message = first_problems({"type": "ssm", "parameter": "team/registry"})
    assert ("registries.r.backend.parameter: a parameter name in a hierarchy starts with '/': "
            "write /team/registry") in message
    vault = {"type": "vault", "address": "https://v.example:8200", "path": "p",
             "auth": {"method": "token", "token": {"ssm": "vault/token"}}}
    assert "registries.r.backend.auth.token: a parameter name in a hierarchy starts with" in \
        first_problems(vault)


def test_an_unknown_backend_type_suggests_the_nearest():
    assert "unknown backend type (did you mean 'secretsmanager'?)" in \
        first_problems({"type": "secretmanager", "secret_id": "s"})
