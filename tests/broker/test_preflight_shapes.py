"""The preflight against the answers real registries give (``responses``), and hostile ones."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker import preflight
from broker.config import parse_config
from broker.login import Login
from tests.support import leaks

PUBLIC = ["52.94.0.10"]
USER = "robot"


def registry(host, **extra):
    block = {"host": host, "backend": {"type": "env", "username_var": "U", "password_var": "P"},
             **extra}
    return parse_config({"registries": {"r": block}}, "test").registries["r"]


@pytest.fixture
def login():
    return Login(USER, leaks.secret("password"))


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def challenge(mock, host, header, *more_headers):
    headers = [("WWW-Authenticate", h) for h in (header, *more_headers)]
    mock.get(f"https://{host}/v2/", status=401, headers=headers)


def token_ok(mock, host, token="tok-" + "x" * 8):
    mock.get(f"https://{host}/v2/", status=200, match=[
        responses.matchers.header_matcher({"Authorization": f"Bearer {token}"})])


def check(reg, login, resolver=lambda host: PUBLIC):
    return preflight.check(reg, login, resolver=resolver)


def query_of(call):
    return parse_qs(urlsplit(call.request.url).query)


def test_docker_hub_cross_host_realm(mock, login):
    host = "registry-1.docker.io"
    challenge(mock, host, 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"')
    mock.get("https://auth.docker.io/token", json={"token": "tok-hub", "expires_in": 300,
                                                   "issued_at": "2026-11-25T00:00:00Z"})
    token_ok(mock, host, "tok-hub")
    mock.head(f"https://{host}/v2/library/python/manifests/3.12", status=200)
    result = check(registry(host, trusted_realms=["auth.docker.io"],
                            repository="library/python", reference="3.12"), login)
    assert result.ok, result.detail
    assert "valid 300 s" in result.detail and "pull access to library/python:3.12" in result.detail
    asked = query_of(mock.calls[1])
    assert asked == {"service": ["registry.docker.io"], "scope": ["repository:library/python:pull"],
                     "account": [USER]}


def test_docker_hub_realm_untrusted_by_default(mock, login):
    host = "registry-1.docker.io"
    challenge(mock, host, 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"')
    result = check(registry(host), login)
    assert (result.ok, result.step) == (False, "realm")
    assert len(mock.calls) == 1, "nothing is sent to an untrusted realm"


def test_ghcr_scope_in_challenge_and_no_expiry(mock, login):
    challenge(mock, "ghcr.io", 'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
                               'scope="repository:octo/app:pull"')
    mock.get("https://ghcr.io/token", json={"token": "tok-gh"})
    token_ok(mock, "ghcr.io", "tok-gh")
    result = check(registry("ghcr.io"), login)
    assert result.ok and "valid 60 s" in result.detail
    assert "scope" not in query_of(mock.calls[1]), "no repository configured: no scope asked"


def test_azure_acr_access_token_only(mock, login):
    host = "team.azurecr.io"
    challenge(mock, host, f'Bearer realm="https://{host}/oauth2/token",service="{host}"')
    mock.get(f"https://{host}/oauth2/token", json={"access_token": "tok-acr"})
    token_ok(mock, host, "tok-acr")
    assert check(registry(host), login).ok


def test_artifactory_get_works_post_never_tried(mock, login):
    host = "art.example.com"
    realm = f"https://{host}/artifactory/api/docker/docker/v2/token"
    challenge(mock, host, f'Bearer realm="{realm}",service="{host}"')
    mock.get(realm, json={"token": "tok-art"})
    mock.post(realm, status=401)
    token_ok(mock, host, "tok-art")
    assert check(registry(host), login).ok
    assert [c.request.method for c in mock.calls] == ["GET", "GET", "GET"]


def test_oauth2_post_fallback_when_get_is_not_allowed(mock, login):
    host = "reg.example.com"
    challenge(mock, host, f'Bearer realm="https://{host}/oauth2/token",service="svc"')
    mock.get(f"https://{host}/oauth2/token", status=405)
    mock.post(f"https://{host}/oauth2/token", json={"access_token": "tok-post", "expires_in": 120})
    token_ok(mock, host, "tok-post")
    mock.head(f"https://{host}/v2/a/b/manifests/latest", status=200)
    result = check(registry(host, repository="a/b"), login)
    form = parse_qs(mock.calls[2].request.body)
    assert form == {"grant_type": ["password"], "client_id": ["registry-broker"],
                    "username": [USER], "password": [login.password], "service": ["svc"],
                    "scope": ["repository:a/b:pull"]}
    assert result.ok and result.round_trips == 5  # ping, GET 405, POST, token-check, manifest


def test_google_artifact_registry_challenge_without_service(mock, login):
    host = "europe-docker.pkg.dev"
    challenge(mock, host, f'Bearer realm="https://{host}/v2/token"')
    mock.get(f"https://{host}/v2/token", json={"token": "tok-gar", "expires_in": 3600})
    token_ok(mock, host, "tok-gar")
    assert check(registry(host), login).ok
    assert "service" not in query_of(mock.calls[1])


def test_nexus_upper_case_basic(mock, login):
    host = "nexus.example.com:8443"
    challenge(mock, host, 'BASIC realm="Sonatype Nexus Repository Manager"')
    mock.get(f"https://{host}/v2/", status=200)
    result = check(registry(host), login)
    assert (result.ok, result.scheme) == (True, "basic")
    assert mock.calls[1].request.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("host, realm, service", [
    ("harbor.example.com", "https://harbor.example.com/service/token", "harbor-registry"),
    ("quay.example.com", "https://quay.example.com/v2/auth", "quay.example.com"),
])
def test_harbor_and_quay_same_host_realm(mock, login, host, realm, service):
    challenge(mock, host, f'Bearer realm="{realm}",service="{service}"')
    mock.get(realm, json={"token": "tok-same"})
    token_ok(mock, host, "tok-same")
    assert check(registry(host), login).ok


def test_gitlab_realm_on_the_gitlab_host(mock, login):
    host = "registry.gitlab.example.com"
    challenge(mock, host, 'Bearer realm="https://gitlab.example.com/jwt/auth",'
                          'service="container_registry"')
    mock.get("https://gitlab.example.com/jwt/auth", json={"token": "tok-gl", "expires_in": 900})
    token_ok(mock, host, "tok-gl")
    assert not check(registry(host), login).ok
    assert check(registry(host, trusted_realms=["gitlab.example.com"]), login).ok


def test_ecr_basic_challenge(mock, login):
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    challenge(mock, host, f'Basic realm="https://{host}/",service="ecr.amazonaws.com"')
    mock.get(f"https://{host}/v2/", status=200)
    mock.head(f"https://{host}/v2/team/app/manifests/latest", status=200)
    result = check(registry(host, repository="team/app"), login)
    assert (result.ok, result.scheme) == (True, "basic")


def test_bearer_preferred_over_basic_in_separate_headers(mock, login):
    host = "both.example.com"
    challenge(mock, host, 'Basic realm="x"', f'Bearer realm="https://{host}/token"')
    mock.get(f"https://{host}/token", json={"token": "tok-both"})
    token_ok(mock, host, "tok-both")
    result = check(registry(host), login)
    assert (result.ok, result.scheme) == (True, "bearer")


@pytest.mark.parametrize("realm, addresses, problem", [
    ("http://auth.example.com/token", PUBLIC, "not https"),
    ("https://auth.example.com/token", ["169.254.169.254"], "link-local or metadata"),
    ("https://auth.example.com/token", ["fd00:ec2::254"], "link-local or metadata"),
    ("https://auth.example.com/token", ["10.0.0.5"], "internal address but the registry does not"),
])
def test_unsafe_realms_get_nothing(mock, login, realm, addresses, problem):
    challenge(mock, "reg.example.com", f'Bearer realm="{realm}"')
    reg = registry("reg.example.com", trusted_realms=["auth.example.com"])
    result = check(reg, login, resolver=lambda h: addresses if h == "auth.example.com" else PUBLIC)
    assert (result.ok, result.step) == (False, "realm")
    assert problem in result.detail
    assert len(mock.calls) == 1, "only the unauthenticated ping was sent"


def test_private_realm_allowed_for_a_private_registry(mock, login):
    host = "reg.internal"
    challenge(mock, host, f'Bearer realm="https://{host}:5001/token"')
    mock.get(f"https://{host}:5001/token", json={"token": "tok-int"})
    token_ok(mock, host, "tok-int")
    assert check(registry(host), login, resolver=lambda h: ["10.1.2.3"]).ok


def test_redirect_to_another_host_is_refused(mock, login):
    host = "reg.example.com"
    challenge(mock, host, 'Basic realm="x"')
    mock.get(f"https://{host}/v2/", status=307, headers={"Location": "https://169.254.169.254/"})
    result = check(registry(host), login)
    assert (result.ok, result.step) == (False, "basic")
    assert "refused a redirect to https://169.254.169.254/" in result.detail
    assert len(mock.calls) == 2


def test_redirect_within_the_host_is_followed(mock, login):
    host = "reg.example.com"
    challenge(mock, host, 'Basic realm="x"')
    mock.get(f"https://{host}/v2/", status=301, headers={"Location": "/v2/next"})
    mock.get(f"https://{host}/v2/next", status=200)
    assert check(registry(host), login).ok


def test_redirect_loop_ends(mock, login):
    host = "reg.example.com"
    challenge(mock, host, 'Basic realm="x"')
    mock.get(f"https://{host}/v2/", status=302, headers={"Location": f"https://{host}/v2/"})
    result = check(registry(host), login)
    assert not result.ok and "more than 5 redirects" in result.detail


@pytest.mark.parametrize("body, problem", [
    (b"<html>login</html>", "did not answer JSON"),
    (json.dumps({"expires_in": 60}).encode(), "without a token"),
    (b"{" + b" " * (2 << 20) + b"}", "sent more than 1048576 bytes"),
])
def test_bad_token_answers(mock, login, body, problem):
    host = "reg.example.com"
    challenge(mock, host, f'Bearer realm="https://{host}/token"')
    mock.get(f"https://{host}/token", body=body)
    result = check(registry(host), login)
    assert (result.ok, result.step) == (False, "token") and problem in result.detail


def test_ca_bundle_only_pass_is_flagged(mock, login, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not used by responses")
    host = "private-ca.example.com"
    challenge(mock, host, 'Basic realm="x"')
    mock.get(f"https://{host}/v2/", status=200)
    mock.get(f"https://{host}/v2/", body=requests.exceptions.SSLError("self-signed"))
    result = check(registry(host, ca_bundle=str(bundle)), login)
    assert result.ok
    assert "SageMaker requires a certificate from a public CA" in result.warnings[0]


def test_a_realm_with_user_info_is_refused_and_not_echoed(mock, login):
    host = "reg.example.com"
    challenge(mock, host, f'Bearer realm="https://{USER}:pw@{host}/token?x=1"')
    result = check(registry(host), login)
    assert (result.ok, result.step) == (False, "realm")
    assert "user info" in result.detail and USER not in result.detail and "x=1" not in result.detail
    assert len(mock.calls) == 1, "nothing was sent to the realm"


def test_messages_carry_no_query(mock, login):
    host = "reg.example.com"
    challenge(mock, host, f'Bearer realm="https://{host}/token?x=1"')
    mock.get(f"https://{host}/token", status=403)
    result = check(registry(host), login)
    assert result.detail == f"token: GET https://{host}/token answered HTTP 403: the token server " \
                            "rejected the login"


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(max_size=200), body=st.binary(max_size=300))
def test_arbitrary_answers_give_a_result_never_an_exception(login, header, body):
    host = "fuzz.example.com"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"https://{host}/v2/", status=401,
                 headers={"WWW-Authenticate": header.encode("utf-8", "replace").decode("latin-1")})
        mock.get(f"https://{host}/token", body=body)
        mock.get(f"https://{host}/token", body=body)
        result = check(registry(host), login)
    assert isinstance(result, preflight.Result) and result.scheme in {"none", "basic", "bearer"}
    assert login.password not in result.summary
