"""Backend.fetch checks a minted login's expiry, which Deps.expiring moves from the wall clock
onto the cache's."""

from __future__ import annotations

import json

import pytest

from backends.base import Backend
from broker.config import parse_config
from broker.deps import Deps
from broker.errors import ConfigError, MalformedSecret
from broker.login import Login

WALL = 1_700_000_000.0


class Minting(Backend):
    """Mints a login expiring at ``expiry`` (seconds since the epoch)."""

    type = "env"
    expiry = WALL + 3600
    mints = True

    @classmethod
    def describe(cls, settings) -> str:
        return "a test mint"

    @classmethod
    def minting(cls, settings, host):
        from broker.identity import Identity, Minting

        return Minting((Identity("test", "a test identity"),))

    def _fetch(self) -> Login:
        return self.deps.expiring(Login("u", "p"), self.expiry)


def fetch(expiry: float) -> Login:
    config = parse_config(json.loads('{"registries": {"r": {"host": "r.example", "backend": '
                                     '{"type": "env", "username_var": "U", "password_var": "P"}}}}'),
                          "t")
    backend = Minting(config.registries["r"], Deps(clock=lambda: 100.0, wall=lambda: WALL))
    backend.expiry = expiry
    return backend.fetch()


def test_the_expiry_moves_onto_the_monotonic_clock():
    login = fetch(WALL + 3600)
    assert (login.username, login.password, login.expires_at) == ("u", "p", 3700.0)


@pytest.mark.parametrize("hostile", [float("nan"), float("inf"), float("-inf")])
def test_an_expiry_that_is_not_a_number_is_malformed(hostile):
    # a token claiming exp NaN would make the cache's comparisons meaningless
    with pytest.raises(MalformedSecret, match="expiry is not a number"):
        fetch(hostile)


@pytest.mark.parametrize("past", [WALL, WALL - 7200])
def test_a_login_that_has_already_expired_is_never_served(past):
    with pytest.raises(MalformedSecret, match="expired .* s ago.*clock"):
        fetch(past)


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/registry-AbCdEf"
KEY_ARN = "arn:aws:kms:{}:123456789012:key/0123abcd-0123-abcd-0123-0123456789ab"


@pytest.mark.parametrize("backend, problem", [
    ({"type": "secretsmanager", "secret_id": SECRET_ARN, "region": "us-east-1"},
     "registries.r.backend.secret_id: names region eu-west-1, but `region` is us-east-1"),
    ({"type": "secretsmanager", "secret_id": SECRET_ARN, "kms_key": KEY_ARN.format("us-west-2")},
     "registries.r.backend.kms_key: names region us-west-2, but secret_id is eu-west-1"),
    ({"type": "ssm", "username_parameter": "arn:aws:ssm:eu-west-1:123456789012:parameter/u",
      "password_parameter": "arn:aws:ssm:eu-central-1:123456789012:parameter/p"},
     "registries.r.backend.password_parameter: names region eu-central-1, but username_parameter"),
])
def test_an_aws_store_is_read_in_one_region(backend, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config({"registries": {"r": {"host": "r.example", "backend": backend}}}, "t")
    assert problem in str(caught.value)


def test_the_store_is_read_in_the_region_its_arn_names():
    from backends.secretsmanager import SecretsManagerBackend

    settings = parse_config({"registries": {"r": {"host": "r.example", "backend": {
        "type": "secretsmanager", "secret_id": SECRET_ARN, "kms_key": KEY_ARN.format("eu-west-1")}}}},
        "t").registries["r"].backend
    assert SecretsManagerBackend.region_of(settings) == "eu-west-1"
    decrypt, = [g for g in SecretsManagerBackend.iam_grants(settings) if hasattr(g, "service")]
    assert decrypt.service == "secretsmanager.eu-west-1.amazonaws.com"


def test_a_store_read_in_its_key_s_region_is_granted_there():
    """Attacker's read: a name with a KMS key in eu-west-1 was read in eu-west-1 and granted
    in the stack's region."""
    from backends.secretsmanager import SecretsManagerBackend

    settings = parse_config({"registries": {"r": {"host": "r.example", "backend": {
        "type": "secretsmanager", "secret_id": "prod/x", "kms_key": KEY_ARN.format("eu-west-1")}}}},
        "t").registries["r"].backend
    grant = SecretsManagerBackend.store_grants(settings)[0]
    assert ":secretsmanager:eu-west-1:" in grant.resource
