"""The gar backend: google-auth's workload identity federation from the function's AWS identity,
against loopback TLS stand-ins of Google's STS and IAM Credentials (tests/support/google.py)
that replay the signed GetCallerIdentity against moto's STS with IAM authentication on."""

from __future__ import annotations

import json

import botocore.session
import pytest
import requests

from broker.aws import AwsClients
from broker.errors import AccessDenied, BackendUnavailable, ConfigError, MalformedSecret
from broker.testing import MintedContract, expect_error, invoke, make_app, secret
from tests.support.google import GoogleStandIns
from tests.support.scripted import json_body, response


@pytest.fixture(params=[False, True], ids=["federated-token", "impersonated"])
def store(request, tmp_path, aws, moto):
    stand_ins = GoogleStandIns(tmp_path, aws, moto, impersonate=request.param)
    yield stand_ins
    stand_ins.down()
    assert stand_ins.wrong == [], f"requests not in the documented shape: {stand_ins.wrong}"


@pytest.fixture
def federated(tmp_path, aws, moto):
    stand_ins = GoogleStandIns(tmp_path, aws, moto, impersonate=False)
    yield stand_ins
    stand_ins.down()


class TestGar(MintedContract):
    """The shared contract for a minting backend, through the real App, both ways."""

    def test_the_signature_was_verified_by_aws(self, store, clock):
        store.mint(secret("minted"))
        invoke(make_app(store, clock))
        assert store.replays == [200]


def test_a_tampered_signature_is_refused_by_aws_so_by_google(store, clock, monkeypatch):
    """The stand-in's check is real: a subject token signed with the wrong secret key fails."""
    store.mint(secret("minted"))
    frozen = store.aws.session().get_credentials().get_frozen_credentials()
    bad = botocore.session.Session()
    bad.set_credentials(frozen.access_key, "not-the-secret-key", None)
    expect_error(make_app(store, clock, {"aws": AwsClients(session=bad)}), AccessDenied, store)
    assert store.replays == [403]


def test_the_denial_names_the_exchange_and_what_to_grant(store, clock):
    with store.denied() as overrides:
        error = expect_error(make_app(store, clock, overrides), AccessDenied, store)
    assert "Google's STS (127.0.0.1) refused the exchange (HTTP 400)" in str(error)
    assert "trusts this account and role" in str(error)


@pytest.mark.parametrize("key, value, problem", [
    ("token_url", "https://sts.evil.example/v1/token", "must be on sts.googleapis.com"),
    ("token_url", "https://storage.googleapis.com/upload/storage/v1/b/open/o?uploadType=media",
     "must be on sts.googleapis.com"),
    ("token_url", "https://sts.googleapis.com/v1/token?next=x", "must have the path /v1/token"),
    ("token_url", "https://sts.googleapis.com/v1/token#x", "must have the path /v1/token"),
    ("token_url", "http://sts.googleapis.com/v1/token", "must be an https URL"),
    ("token_url", "https://sts.googleapis.com\\@evil.example/v1/token", "must be an https URL"),
    ("token_url", "https://sts.googleapis.com.evil.example/v1/token", "must be on sts.googleapis"),
    ("iam_credentials_url", "https://user:pw@iamcredentials.googleapis.com",
     "must be an https URL: a URL with user info"),
    ("iam_credentials_url", "https://sts.googleapis.com", "must be on iamcredentials.googleapis.com"),
    ("audience", "projects/1/locations/global/workloadIdentityPools/p/providers/q",
     "must be the provider's full name"),
    ("service_account", "someone@example.com", "must be a service account email"),
])
def test_the_signed_identity_only_goes_to_google(key, value, problem):
    from broker.config import parse_config

    backend = {"type": "gar", "audience": "//iam.googleapis.com/projects/1/locations/global/"
                                          "workloadIdentityPools/pool/providers/aws", key: value}
    with pytest.raises(ConfigError) as info:
        parse_config({"registries": {"g": {"host": "us-docker.pkg.dev", "backend": backend}}}, "t")
    assert f"registries.g.backend.{key}: {problem}" in str(info.value)


@pytest.mark.parametrize("key, value", [
    ("token_url", "https://sts-broker.p.googleapis.com/v1/token"),
    ("iam_credentials_url", "https://iamcredentials-broker.p.googleapis.com"),
])
def test_private_service_connect_endpoints_are_accepted(key, value):
    from broker.config import parse_config

    parse_config({"registries": {"g": {"host": "us-docker.pkg.dev", "backend": {
        "type": "gar", "audience": "//iam.googleapis.com/projects/1/locations/global/"
                                   "workloadIdentityPools/pool/providers/aws", key: value}}}}, "t")


def test_a_redirect_is_never_followed_with_the_signed_identity(store, clock, scripted):
    elsewhere = scripted("127.0.0.3")
    store._servers["127.0.0.1"].on("/v1/token", response(
        307, [("Location", f"http://{elsewhere.netloc}/v1/token")]))
    error = expect_error(make_app(store, clock), ConfigError, store)
    assert "redirect, which is never followed" in str(error)
    assert elsewhere.requests == []


@pytest.mark.parametrize("answer, problem", [
    (json_body(json.dumps({"error": "invalid_grant", "error_description": "SENTINEL"}), 401),
     AccessDenied),
    (json_body(json.dumps({"error": "SENTINEL"}), 503), BackendUnavailable),
    (json_body(json.dumps({"access_token": "SENTINEL", "expires_in": "soon"})), BackendUnavailable),
    (json_body("x" * (2 << 20)), MalformedSecret),  # too large: one map for every backend
    (json_body(json.dumps({"access_token": "SENTINEL", "expires_in": 1e400})), BackendUnavailable),
])
def test_what_google_answers_is_never_echoed(store, clock, answer, problem):
    """Its error text may reflect what it got (the signed identity); only a status is named."""
    echoed = secret("echoed")
    store._servers["127.0.0.1"].on("/v1/token", answer.replace(b"SENTINEL", echoed.encode()))
    expect_error(make_app(store, clock, retries=0), problem, store)


def test_a_token_that_has_already_expired_is_not_served(federated, clock):
    federated.mint(secret("minted"))
    federated._servers["127.0.0.1"].on("/v1/token", json_body(json.dumps({
        "access_token": federated.minted, "token_type": "Bearer", "expires_in": -7200})))
    error = expect_error(make_app(federated, clock, retries=0), MalformedSecret, federated)
    assert "expired" in str(error)


# --- Third review, finding 1: one alias's token must not mint another's ----------------------

def test_the_served_token_is_scoped_to_reading(store, clock):
    """The served token carries Artifact Registry's narrowest scope; the token that only
    impersonates carries the iam scope, and is never served."""
    store.mint(secret("minted"))
    served = invoke(make_app(store, clock))["Credentials"]["Password"]
    assert store.issued[served if not store.impersonate else store.federated] == (
        "https://www.googleapis.com/auth/iam" if store.impersonate else
        "https://www.googleapis.com/auth/cloud-platform.read-only")
    assert served not in store.issued or store.issued[served].endswith(".read-only")


def test_a_served_federated_token_cannot_impersonate_a_service_account(federated, clock):
    """The attack: team-a's invoker is served the federated token, and presents it to
    generateAccessToken for team-b's service account (Google answered 200 with the
    cloud-platform scope). Scoped to reading, IAM Credentials refuses it."""
    federated.mint(secret("minted"))
    served = invoke(make_app(federated, clock))["Credentials"]["Password"]
    url = (f"https://127.0.0.2:{federated._ports['127.0.0.2']}/v1/projects/-/serviceAccounts/"
           f"{federated.account}:generateAccessToken")
    answer = requests.post(url, json={"scope": ["https://www.googleapis.com/auth/cloud-platform"
                                                ".read-only"]},
                           headers={"Authorization": f"Bearer {served}"},
                           verify=str(federated.ca.bundle), timeout=10)
    assert answer.status_code == 403, "the served token minted another registry's login"
