"""The artifactory backend against a stand-in of JFrog's AWS token exchange that has moto's
STS (IAM authentication on) verify every signed GetCallerIdentity it receives."""

from __future__ import annotations

import json
import socket

import pytest

from broker.app import App
from broker.cli import LocalContext
from broker.config import parse_config
from broker.errors import AccessDenied, BrokerError, ConfigError, MalformedSecret
from broker.testing import FakeClock, MintedContract, assert_clean, secret
from tests.backends.contract import expect_error, invoke, make_app
from tests.support.jfrog import JFrogStandIn
from tests.support.scripted import json_body, response


@pytest.fixture
def store(tmp_path, aws, moto):
    stand_in = JFrogStandIn(tmp_path, aws, moto)
    yield stand_in
    stand_in.down()


class TestArtifactory(MintedContract):
    def test_the_signature_was_verified_by_aws(self, store, clock):
        store.mint(secret("minted"))
        invoke(make_app(store, clock))
        assert store.replays == [200] and store.wrong == []
        assert store.exchanges == [3600]


def test_a_tampered_signature_is_refused_by_aws_so_by_jfrog(store, clock, monkeypatch):
    from backends import artifactory

    signed = artifactory.ArtifactoryBackend._signed

    def tampered(self):
        headers, region = signed(self)
        return {**headers, "Authorization": headers["Authorization"][:-4] + "0000"}, region
    monkeypatch.setattr(artifactory.ArtifactoryBackend, "_signed", tampered)
    error = expect_error(make_app(store, clock), AccessDenied, store)
    assert "JFrog refused the AWS identity (HTTP 403)" in str(error)
    assert "PUT /access/api/v1/aws/iam_role" in str(error)
    assert store.replays and store.replays[-1] != 200


def test_a_redirect_is_never_followed_with_the_signed_identity(store, clock, scripted):
    elsewhere = scripted("127.0.0.2")
    store.server.on("/access/api/v1/aws/token", response(
        307, [("Location", f"http://127.0.0.2:{elsewhere.port}/access/api/v1/aws/token")]))
    expect_error(make_app(store, clock), ConfigError, store)
    assert elsewhere.requests == [], "the signed identity followed the redirect"


def test_a_rebinding_name_never_gets_the_signed_identity(tmp_path, aws, moto, clock, scripted,
                                                         monkeypatch):
    stand_in = JFrogStandIn(tmp_path, aws, moto, name="jfrog.test")
    attacker = scripted("127.0.0.3", stand_in.server.port, tls=stand_in.tls)
    answers, real = iter(["127.0.0.1"] + ["127.0.0.3"] * 20), socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "jfrog.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), args[0] or 0))]
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    stand_in.mint(secret("minted"))
    try:
        invoke(make_app(stand_in, clock))
    finally:
        stand_in.down()
    assert attacker.requests == [], "the second resolution got the signed identity"
    assert stand_in.replays == [200]


@pytest.mark.parametrize("answer, problem", [
    ('{"access_token": "a b", "username": "u", "expires_in": 60}', "not a single word"),
    ('{"access_token": "tok", "username": "u", "expires_in": "soon"}', "usable expiry"),
    ('{"access_token": "tok", "username": "u", "expires_in": 999999}', "usable expiry"),
    ('["tok"]', "not a token"),
    ("<html>login</html>", "not a token"),
])
def test_what_jfrog_answers_is_never_echoed(store, clock, answer, problem):
    store.server.on("/access/api/v1/aws/token", json_body(answer))
    error = expect_error(make_app(store, clock), MalformedSecret, store)
    assert problem in str(error) and "tok" not in str(error).split("(", 1)[0]


@pytest.mark.parametrize("status, said", [(404, "no AWS token exchange here"),
                                          (502, "JFrog answered HTTP 502")])
def test_each_refusal_names_its_fix(store, clock, status, said):
    store.server.on("/access/api/v1/aws/token", json_body("{}", status))
    with pytest.raises(BrokerError, match=said) as info:
        invoke(make_app(store, clock))
    assert_clean(info.value)


def test_a_day_of_invocations_refreshes_at_half_life_and_never_serves_less(store):
    """One invocation a minute for 24 hours with hour-long tokens: an exchange every half
    hour, and every login served with at least half its life left."""
    clock, started = FakeClock(start=0.0), store.wall_start
    app = App(json.dumps({"registries": {"acme": {"host": store.host, "cache_ttl": 86400,
                                                  "backend": store.backend()}}}),
              environ={}, clock=clock, wall=lambda: started + clock(), aws=store.aws)
    served = []
    for minute in range(24 * 60):
        store.mint(f"tok-{len(store.exchanges)}")
        app.invoke({}, LocalContext())
        served.append((minute, app.last_expires_in))
        clock.advance(60)
    assert len(store.exchanges) == 48
    assert min(left for _, left in served) >= store.lifetime / 2
    assert store.wrong == []


@pytest.mark.parametrize("first, second, refused", [
    ({}, {"url": "https://other.jfrog.test"}, "either could replay it to the other"),
    ({}, {}, "both mint through"),
    ({}, {"url": "https://other.jfrog.test",
          "role_arn": "arn:aws:iam::123456789012:role/puller-b"}, None),
])
def test_one_signed_identity_goes_to_one_host(first, second, refused):
    base = {"type": "artifactory", "url": "https://acme.jfrog.test", "region": "us-east-1"}
    document = {"registries": {
        "a": {"host": "a.jfrog.test", "backend": {**base, **first}},
        "b": {"host": "b.jfrog.test", "backend": {**base, **second}}}}
    if refused is None:
        parse_config(document, "t")
        return
    with pytest.raises(ConfigError, match=refused):
        parse_config(document, "t")


def test_a_vault_aws_login_and_an_artifactory_one_may_not_share_the_functions_identity():
    document = {"registries": {
        "a": {"host": "a.jfrog.test", "backend": {"type": "artifactory",
                                                  "url": "https://acme.jfrog.test"}},
        "v": {"host": "v.example", "backend": {
            "type": "vault", "address": "https://vault.example", "path": "p",
            "auth": {"method": "aws", "role": "broker", "header_value": "vault.example"}}}}}
    with pytest.raises(ConfigError, match="signed proof of the function's own role"):
        parse_config(document, "t")


def test_the_url_must_be_https_without_user_or_query():
    for url in ("http://acme.jfrog.test", "https://user@acme.jfrog.test",
                "https://acme.jfrog.test/?x=1"):
        with pytest.raises(ConfigError, match="JFrog platform's https:// URL"):
            parse_config({"registries": {"a": {"host": "a.example", "backend": {
                "type": "artifactory", "url": url}}}}, "t")


def test_another_host_named_in_the_answer_is_never_contacted(store, clock, scripted):
    elsewhere = scripted("127.0.0.2")
    answer = {"access_token": "tok", "username": "svc-puller", "expires_in": 3600,
              "token_type": "Bearer", "refresh_url": f"https://127.0.0.2:{elsewhere.port}/x"}
    store.server.on("/access/api/v1/aws/token", json_body(
        json.dumps(answer), extra=[("Location", f"https://127.0.0.2:{elsewhere.port}/")]))
    assert invoke(make_app(store, clock))["Credentials"]["Username"] == "svc-puller"
    assert elsewhere.requests == []


def test_a_huge_or_dripping_answer_is_cut_short(store, clock):
    import time

    from broker.errors import BackendUnavailable

    store.server.on("/access/api/v1/aws/token",
                    json_body('{"access_token": "' + "x" * (2 << 20) + '"}'))
    expect_error(make_app(store, clock), MalformedSecret, store)
    store.server.on("/access/api/v1/aws/token", [(b"", 30.0)])
    started = time.monotonic()
    expect_error(make_app(store, clock, timeout=1, retries=0), BackendUnavailable, store)
    assert time.monotonic() - started < 3
