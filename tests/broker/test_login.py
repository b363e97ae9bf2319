"""Stored secret formats: JSON and dockerconfigjson, and the masked Login."""

from __future__ import annotations

import base64
import json

import pytest

from broker.login import FormatProblem, Login, SecretFormat
from tests.support import leaks

HOST = "registry.example:5000"
JSON = SecretFormat()
DOCKER = SecretFormat(format="dockerconfigjson")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_login_repr_masks_the_password():
    password = leaks.secret("password")
    login = Login("bob", password)
    assert password not in repr(login) and password not in str(login) and "bob" in repr(login)
    assert password not in repr([login]) and password not in f"{login!r}"


def test_response_shape():
    assert Login("u", "p").response() == {"Credentials": {"Username": "u", "Password": "p"}}


def test_json_from_text_bytes_and_mapping():
    for document in ('{"username": "u", "password": "p"}', b'{"username": "u", "password": "p"}',
                     {"username": "u", "password": "p"}):
        assert JSON.parse(document, HOST) == Login("u", "p")


@pytest.mark.parametrize("key", [HOST, f"https://{HOST}", f"http://{HOST}/v1/", HOST.upper()])
def test_dockerconfig_keys_are_normalised(key):
    document = {"auths": {key: {"auth": b64("u:p:with:colons")}}}
    assert DOCKER.parse(json.dumps(document), HOST) == Login("u", "p:with:colons")


def test_kubernetes_pull_secret_wrapping():
    inner = json.dumps({"auths": {HOST: {"username": "u", "password": "p"}}})
    assert DOCKER.parse({".dockerconfigjson": inner}, HOST) == Login("u", "p")


@pytest.mark.parametrize("document, problem", [
    (b"\xff\xfe", "not UTF-8"),
    ("x" * 70_000, "larger than 65536 bytes"),
    ('{"username": "u", "password": null}', "key 'password' is missing"),
    ('{"username": "u", "password": ["p"]}', "key 'password' is a list"),
    ('{"username": "u", "password": true}', "key 'password' is a boolean"),
    ('{"username": "u", "password": "' + "p" * 20_000 + '"}', "longer than 16384"),
])
def test_json_problems(document, problem):
    with pytest.raises(FormatProblem, match=problem):
        JSON.parse(document, HOST)


@pytest.mark.parametrize("document, problem", [
    ({"registry": "x"}, "no 'auths' object"),
    ({"auths": {HOST: "u:p"}}, "is not an object"),
    ({"auths": {HOST: {"auth": "!!notbase64"}}}, "not base64"),
    ({"auths": {HOST: {"auth": b64("no-colon")}}}, "no ':'"),
    ({"auths": {HOST: {"auth": 5}}}, "'auth' value is a number"),
    ({"auths": {HOST: {"auth": b64(":p")}}}, "key 'username' is empty"),
    ({"auths": {HOST: {"auth": base64.b64encode(b"\xff:x").decode()}}}, "not base64 of UTF-8"),
])
def test_dockerconfig_problems(document, problem):
    with pytest.raises(FormatProblem, match=problem):
        DOCKER.parse(document, HOST)


def test_problems_never_quote_the_document():
    password = leaks.secret("password")
    for document in (f"not json {password}", json.dumps({"username": "u", "pass": password})):
        with pytest.raises(FormatProblem) as info:
            JSON.parse(document, HOST)
        leaks.assert_clean(info.value)


@pytest.mark.parametrize("host", ["docker.io", "registry-1.docker.io", "index.docker.io"])
@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io",
                                 "registry-1.docker.io", "https://registry-1.docker.io"])
def test_docker_hub_names_are_one_registry(host, key):
    document = {"auths": {key: {"auth": b64("hubuser:hubpass")}}}
    assert DOCKER.parse(json.dumps(document), host) == Login("hubuser", "hubpass")


def test_a_missing_entry_says_which_entries_there_are_and_what_to_do():
    document = {"auths": {"ghcr.io": {"auth": b64("u:p")}}}
    with pytest.raises(FormatProblem) as info:
        DOCKER.parse(json.dumps(document), "registry.example")
    assert "entries: ghcr.io" in str(info.value)
    assert "auths" in info.value.hint and "format" not in info.value.hint


def test_a_docker_config_read_as_json_says_to_set_the_format():
    """Issue 17, item 3: a stored dockerconfigjson under the default format failed as a
    missing 'username' key; the `auths` key says what it is."""


    document = json.dumps({"auths": {"r.example.com": {"auth": "dTpw"}}})
    with pytest.raises(FormatProblem) as caught:
        SecretFormat().parse(document, "r.example.com")
    assert "Docker config.json" in str(caught.value)
    assert caught.value.hint == "Set `format: dockerconfigjson` in the backend block"
