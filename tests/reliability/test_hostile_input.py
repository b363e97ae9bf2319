"""Hostile and malformed input: only BrokerError subclasses (or a valid answer) may come out."""

from __future__ import annotations

import json

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker import preflight
from broker.app import App
from broker.cli import LocalContext
from broker.config import parse_config
from broker.errors import BrokerError, ConfigError, MalformedSecret
from broker.login import FormatProblem, Login, SecretFormat
from tests.support import leaks

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                    st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
NAMES = st.sampled_from(["acme", "harbor", "", "1", "x" * 129, "a.b"]) | st.text(max_size=8)
KEYS = st.sampled_from(["host", "backend", "match", "cache_ttl", "timeout", "type", "secret_id",
                        "parameter", "path", "auth", "method", "token", "format", "preflight",
                        "registries", "defaults", "retries", "insecure", "invokers"])


def env_registry(name):
    return {"host": f"{name}.example", "backend": {"type": "env", "username_var": "U",
                                                   "password_var": "P"}}


APPS = {
    "one": App(json.dumps({"registries": {"solo": env_registry("solo")}}),
               environ={"U": "robot", "P": "pw"}),
    "two": App(json.dumps({"registries": {n: env_registry(n) for n in ("acme", "harbor")}}),
               environ={"U": "robot", "P": "pw"}),
}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(event=JSON | st.dictionaries(st.sampled_from(["registry", "image", "refresh"]), JSON),
       which=st.sampled_from(sorted(APPS)), alias=st.none() | NAMES)
def test_arbitrary_events(event, which, alias):
    try:
        answer = APPS[which].invoke(event, LocalContext(alias))
    except BrokerError:
        return
    assert answer == {"Credentials": {"Username": "robot", "Password": "pw"}}


def structured_configs():
    backend = st.fixed_dictionaries({}, optional={"type": st.sampled_from(
        ["secretsmanager", "ssm", "vault", "env", "nope", 3]), **{k: JSON for k in (
            "secret_id", "parameter", "path", "auth", "username_var", "password_var")}})
    registry = st.fixed_dictionaries({}, optional={"host": JSON | st.text(max_size=30),
                                                   "backend": backend | JSON, "match": JSON,
                                                   "cache_ttl": JSON, "preflight": JSON})
    return st.fixed_dictionaries({}, optional={
        "registries": st.dictionaries(NAMES, registry | JSON, max_size=3) | JSON,
        "defaults": st.dictionaries(KEYS, JSON, max_size=3) | JSON}) | JSON


@settings(max_examples=400)
@given(document=structured_configs())
def test_arbitrary_config_documents(document):
    try:
        config = parse_config(document, "fuzz.yml", {})
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and m for p, m in exc.problems)
        return
    assert config.registries


PAYLOADS = (st.text(max_size=200) | st.binary(max_size=200) |
            st.dictionaries(st.sampled_from(["username", "password", "auths", ".dockerconfigjson",
                                             "user"]), JSON, max_size=3) |
            JSON.map(json.dumps) |
            st.dictionaries(st.text(max_size=20), st.dictionaries(
                st.sampled_from(["auth", "username", "password"]), JSON | st.binary(max_size=30).map(
                    lambda b: __import__("base64").b64encode(b).decode())), max_size=3).map(
                lambda auths: json.dumps({"auths": auths})))


@settings(max_examples=500)
@given(payload=PAYLOADS, fmt=st.sampled_from(["json", "dockerconfigjson"]))
def test_arbitrary_secret_payloads(payload, fmt):
    try:
        login = SecretFormat(format=fmt).parse(payload, "registry.example")
    except FormatProblem:
        return
    assert isinstance(login, Login) and login.username.strip() and login.password.strip()


def sm_app(aws, moto, name, document):
    from broker.aws import AwsClients

    aws("secretsmanager").create_secret(Name=name, **document)
    config = {"registries": {"r": {"host": "registry.example", "backend": {
        "type": "secretsmanager", "secret_id": name, "format": "json"}}}}
    return App(json.dumps(config), environ={}, aws=AwsClients(endpoint_url=moto.url))


@pytest.mark.parametrize("name, document, problem", [
    ("hostile/64k", {"SecretString": json.dumps({"username": "u", "password": "x" * 65_000})},
     "longer than 16384 characters"),
    ("hostile/binary", {"SecretBinary": b"\xff\xfe\x00binary"}, "SecretBinary"),
    ("hostile/non-string", {"SecretString": json.dumps({"username": ["u"], "password": 5})},
     "key 'username' is a list"),
    ("hostile/nul", {"SecretString": json.dumps({"username": "u\x00", "password": "p"})},
     "NUL byte"),
    ("hostile/not-json", {"SecretString": "username=u password=p"}, "not JSON"),
])
def test_hostile_stored_secrets_are_malformed(aws, moto, name, document, problem):
    with pytest.raises(MalformedSecret, match=problem) as info:
        sm_app(aws, moto, name, document).invoke({}, None)
    assert f"secret '{name}'" in str(info.value)


def test_dockerconfigjson_with_bad_base64(aws, moto):
    from broker.aws import AwsClients

    aws("secretsmanager").create_secret(Name="hostile/b64", SecretString=json.dumps(
        {"auths": {"registry.example": {"auth": "%%%not-base64%%%"}}}))
    config = {"registries": {"r": {"host": "registry.example", "backend": {
        "type": "secretsmanager", "secret_id": "hostile/b64", "format": "dockerconfigjson"}}}}
    app = App(json.dumps(config), environ={}, aws=AwsClients(endpoint_url=moto.url))
    with pytest.raises(MalformedSecret, match="not base64"):
        app.invoke({}, None)


def test_realm_redirecting_to_the_metadata_address_gets_nothing():
    login = Login("robot", leaks.secret("password"))
    registry = parse_config({"registries": {"r": {"host": "reg.example.com", "backend": {
        "type": "env", "username_var": "U", "password_var": "P"}}}}, "t").registries["r"]
    with responses.RequestsMock() as mock:
        mock.get("https://reg.example.com/v2/", status=401,
                 headers={"WWW-Authenticate": 'Bearer realm="https://reg.example.com/token"'})
        mock.get("https://reg.example.com/token", status=302,
                 headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        result = preflight.check(registry, login, resolver=lambda host: ["52.94.0.10"])
    assert (result.ok, result.step) == (False, "token")
    assert result.detail == ("token: refused a redirect from https://reg.example.com/token to a URL "
                             "whose scheme is not https")
