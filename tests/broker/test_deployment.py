"""The one deployment model: each backend class asked once, and what the framework adds for
every backend (references' grants and variables, the modules their reads live in)."""

from __future__ import annotations

from collections import Counter

import backends
from broker import deployment
from broker.config import parse_config
from broker.grants import PARAMETERS, read_secret

VAULT = {"type": "vault", "address": "https://vault.example:8200", "path": "reg",
         "auth": {"method": "approle", "role_id": {"env": "ROLE_ID"},
                  "secret_id": {"secretsmanager": "vault/secret-id"}}}


def model(**registries):
    return deployment.model(parse_config({"registries": {
        name: {"host": f"{name}.example.com", "backend": backend}
        for name, backend in registries.items()}}, "test"))


def test_references_grant_what_reading_them_needs_and_name_their_variables():
    facts, = model(v=VAULT).registries
    assert read_secret("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                       "${AWS::AccountId}:secret:vault/secret-id-??????") in facts.grants
    assert facts.variables == ("ROLE_ID",)
    assert ("backend.address", "vault.example") in facts.hosts and ("host", "v.example.com") \
        in facts.hosts


def test_the_zip_ships_the_backend_modules_references_and_an_ssm_source_read_through():
    found = model(v=VAULT)
    assert found.built_in_modules() == {"backends.vault", "backends.secretsmanager"}
    assert "backends.ssm" in found.built_in_modules("ssm:/broker/config")
    assert found.distributions("ssm:/broker/config") == ["hvac", "pyyaml", "requests"]


def test_an_ssm_config_source_is_granted_its_parameter():
    statements = model(s={"type": "secretsmanager", "secret_id": "s"}).statements("ssm:/cfg")
    assert any(s["Action"] == list(PARAMETERS) and s["Resource"] ==
               ["arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/cfg"]
               for s in statements)


def test_each_backend_class_is_asked_once_per_registry(monkeypatch):
    from backends.secretsmanager import SecretsManagerBackend

    asked: Counter = Counter()

    class Counting(SecretsManagerBackend):
        pass
    # (region_of is left out: a backend's own grants ask it too, as they should)
    for fact in ("iam_grants", "environment_variables", "network_hosts", "deploy_notes",
                 "describe"):
        original = getattr(SecretsManagerBackend, fact).__func__

        def counted(cls, settings, _fact=fact, _original=original):
            asked[_fact] += 1
            return _original(cls, settings)
        setattr(Counting, fact, classmethod(counted))
    real = backends.backend_class
    monkeypatch.setattr(backends, "backend_class",
                        lambda name: Counting if name == "secretsmanager" else real(name))
    found = model(a={"type": "secretsmanager", "secret_id": "a"},
                  b={"type": "secretsmanager", "secret_id": "b"})
    found.statements(), found.distributions(), found.built_in_modules()
    assert set(asked.values()) == {2}, asked
