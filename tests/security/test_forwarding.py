"""Promise 2: the login goes to the registry and its vetted token server, nowhere else.

Attacks from a hostile registry or its DNS: redirects that parse differently in different URL
parsers, a redirect to another origin, a name that resolves once to a vetted address and then
to another (rebinding), and addresses that hide the metadata service or loopback.
"""

from __future__ import annotations

import json
import socket

import pytest
import responses

from broker import preflight
from broker.errors import ConfigError
from tests.support.configs import registry
from tests.support.scripted import challenge, json_body, response
from tests.support.tls import TestCA

PUBLIC = ["52.94.0.10"]
PRIVATE = ["10.0.0.5"]


def with_login(answer: bytes, without: bytes):
    """A route answering ``answer`` to requests that carry a login, ``without`` to the others."""
    return lambda request: answer if "authorization" in request.headers else without


def sent_a_login(server) -> bool:
    return any("authorization" in r.headers or b"password" in r.body for r in server.requests)


# --- Finding 5: redirects ---------------------------------------------------------------------

def test_a_backslash_in_a_redirect_authority_sends_nothing_to_the_host_before_it(scripted, login):
    evil = scripted("127.0.0.2").on("/v2/", response(200))
    reg = scripted("127.0.0.1")
    # urllib.parse reads the host as 127.0.0.1 (allowed); urllib3 reads it as 127.0.0.2.
    location = f"http://{evil.netloc}\\@{reg.netloc}/v2/"
    reg.on("/v2/", with_login(response(307, [("Location", location)]), challenge('Basic realm="r"')))
    result = preflight.check(registry(reg.netloc, insecure=True), login)
    assert (result.ok, result.step) == (False, "basic")
    assert evil.requests == [], "the login went to the host before the backslash"
    assert "redirect" in result.detail


def test_a_redirect_to_another_origin_never_carries_the_login(scripted, login):
    other = scripted("127.0.0.1").on("/v2/", response(200))
    reg = scripted("127.0.0.1")
    moved = response(307, [("Location", f"http://127.0.0.1:{other.port}/v2/")])
    reg.on("/v2/", with_login(moved, challenge('Basic realm="r"')))
    result = preflight.check(registry(reg.netloc, insecure=True), login)
    assert not sent_a_login(other), "the login crossed to another origin"
    assert (result.ok, result.step) == (False, "basic")


@pytest.mark.parametrize("location", ["http://127.0.0.1:1\x00/v2/", "http://a b/v2/",
                                      "http://[x/v2/", "http://user:pw@127.0.0.1/v2/"])
def test_malformed_redirect_targets_are_refused(scripted, login, location):
    reg = scripted("127.0.0.1")
    reg.on("/v2/", with_login(response(302, [("Location", location)]), challenge('Basic realm="r"')))
    result = preflight.check(registry(reg.netloc, insecure=True), login)
    assert (result.ok, result.step) == (False, "basic")
    assert len(reg.requests) == 2


# --- Finding 6: one resolution, and the connection goes to the vetted address -----------------

def test_a_rebinding_realm_name_never_reaches_the_second_address(scripted, login, monkeypatch):
    legit = scripted("127.0.0.1")
    legit.on("/token", json_body('{"token": "tok-good", "expires_in": 300}'))
    attacker = scripted("127.0.0.3", legit.port).on("/token", json_body('{"token": "tok-evil"}'))
    reg = scripted("127.0.0.1")
    realm = f"http://rebind.test:{legit.port}/token"
    token_ok = response(200)
    reg.on("/v2/", lambda r: token_ok if r.headers.get("authorization") == "Bearer tok-good"
           else challenge(f'Bearer realm="{realm}",service="svc"'))
    answers = iter(["127.0.0.1"] + ["127.0.0.3"] * 20)
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, args[0] or 0))]
        return real(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    result = preflight.check(registry(reg.netloc, insecure=True, trusted_realms=["rebind.test"]),
                             login)
    assert attacker.requests == [], "the second resolution got the login"
    assert result.ok, result.detail
    assert legit.requests[0].headers["host"] == f"rebind.test:{legit.port}"


def test_a_pinned_tls_connection_keeps_the_name_for_sni_host_and_certificate(scripted, login,
                                                                             tmp_path):
    ca = TestCA.create(tmp_path)
    reg = scripted("127.0.0.1", tls=ca.server_context("registry.test", tmp_path))
    reg.on("/v2/", with_login(response(200), challenge('Basic realm="r"')))
    host = f"registry.test:{reg.port}"
    result = preflight.check(registry(host, ca_bundle=str(ca.bundle)), login,
                             resolver=lambda name: ["127.0.0.1"] if name == "registry.test" else [])
    assert result.ok, result.detail
    assert {r.sni for r in reg.requests} == {"registry.test"}
    assert reg.requests[0].headers["host"] == host


def test_a_certificate_for_another_name_fails_even_at_the_vetted_address(scripted, login, tmp_path):
    ca = TestCA.create(tmp_path)
    reg = scripted("127.0.0.1", tls=ca.server_context("other.test", tmp_path))
    reg.on("/v2/", with_login(response(200), challenge('Basic realm="r"')))
    result = preflight.check(registry(f"registry.test:{reg.port}", ca_bundle=str(ca.bundle)), login,
                             resolver=lambda name: ["127.0.0.1"])
    assert (result.ok, result.step) == (False, "ping")
    assert "TLS" in result.detail and reg.requests == []


def test_a_vault_redirect_is_not_followed_with_the_token(scripted, clock):
    from broker.app import App
    from broker.cli import LocalContext
    from tests.support import leaks

    elsewhere = scripted("127.0.0.2").on("/v1/secret/data/reg", response(200))
    vault = scripted("127.0.0.1")
    vault.on("/v1/secret/data/reg", response(307, [("Location", f"http://{elsewhere.netloc}"
                                                                "/v1/secret/data/reg")]))
    config = {"registries": {"v": {"host": "v.example", "backend": {
        "type": "vault", "address": f"http://{vault.netloc}", "insecure": True, "path": "reg",
        "auth": {"method": "token", "token": {"env": "VT"}}}}}}
    app = App(json.dumps(config), environ={"VT": leaks.secret("vault-token")}, clock=clock)
    with pytest.raises(ConfigError, match="redirect, which is never followed"):
        app.invoke({}, LocalContext("v"))
    assert elsewhere.requests == [], "the Vault token followed a redirect to another host"
    assert len(vault.requests) == 1, "a redirect is not an outage: no retry"


# --- Finding 7: address rules on every hop ----------------------------------------------------

@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def bearer(mock, host, realm):
    mock.get(f"https://{host}/v2/", status=401,
             headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})
    mock.get(realm, json={"token": "tok"})


@pytest.mark.parametrize("registry_at, realm_at", [
    (PRIVATE, ["::ffff:169.254.169.254"]),  # the metadata service, as an IPv4-mapped address
    (PRIVATE, ["64:ff9b::a9fe:a9fe"]),  # ... through NAT64
    (PRIVATE, ["2002:a9fe:a9fe::1"]),  # ... through 6to4
    (PRIVATE, ["::ffff:0:a9fe:a9fe"]),  # ... IPv4-translated (SIIT)
    (PRIVATE, ["64:ff9b:1:a9fe:a9:fe00:808:808"]),  # ... in a local-use NAT64 /48 layout
    (PRIVATE, ["fec0::1"]),  # deprecated site-local
    (PRIVATE, ["fd00:ec2::23"]),  # the EC2 IPv6 DNS resolver
    (PRIVATE, ["fd00:ec2::254"]),  # the EC2 IPv6 metadata service
    (PRIVATE, ["169.254.170.2"]),  # the ECS/Lambda credentials endpoint
    (PRIVATE, ["0.0.0.0"]),
    (PRIVATE, ["127.0.0.1"]),  # loopback only for a loopback registry
    (PRIVATE, ["::1"]),
    (PUBLIC, ["224.0.0.251"]),  # multicast
    (PUBLIC, ["ff02::1"]),
    (PUBLIC, ["52.94.0.11", "10.1.1.1"]),  # one internal address among public ones
])
def test_unsafe_realm_addresses_get_nothing(mock, login, registry_at, realm_at):
    bearer(mock, "reg.example.com", "https://auth.example.com/token")
    reg = registry("reg.example.com", trusted_realms=["auth.example.com"])
    result = preflight.check(reg, login, resolver=lambda h: realm_at if h == "auth.example.com"
                             else registry_at)
    assert (result.ok, result.step) == (False, "realm"), result.detail
    assert len(mock.calls) == 1, "only the ping without a login was sent"


@pytest.mark.parametrize("addresses", [["169.254.169.254"], ["::ffff:169.254.169.254"],
                                       ["fd00:ec2::254"], ["0.0.0.0"]])
def test_a_registry_name_resolving_to_the_metadata_service_gets_nothing(mock, login, addresses):
    mock.get("https://reg.example.com/v2/", status=401,
             headers={"WWW-Authenticate": 'Basic realm="r"'})
    result = preflight.check(registry("reg.example.com"), login, resolver=lambda h: addresses)
    assert (result.ok, result.step) == (False, "ping")
    assert "address" in result.detail and len(mock.calls) == 0


def test_loopback_realm_for_a_loopback_registry_is_allowed(mock, login):
    bearer(mock, "reg.test", "https://auth.test/token")
    mock.get("https://reg.test/v2/", status=200)
    reg = registry("reg.test", trusted_realms=["auth.test"])
    result = preflight.check(reg, login, resolver=lambda h: ["127.0.0.1"])
    assert result.step != "realm", result.detail


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("[::1]", True),
    ("::ffff:127.0.0.1", True), ("localhost", False), ("10.0.0.1", False),
    ("169.254.169.254", False), ("sts.googleapis.com", False), ("127.0.0.1.nip.io", False),
])
def test_only_loopback_literals_stand_in_for_a_well_known_service(host, loopback):
    """gar and the ACR plugin accept a loopback endpoint (tests) besides the real service's
    hosts; a name that merely resolves there is not one."""
    from broker import netguard

    assert netguard.is_loopback(host) is loopback
