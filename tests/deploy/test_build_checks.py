"""deploy/build.py refuses, before building, a function that cannot work once deployed."""

from __future__ import annotations

import json

import pytest

from tests.support.packaging import build

SM = {"type": "secretsmanager", "secret_id": "team/registry"}
VAULT = {"type": "vault", "address": "https://vault.internal:8200", "path": "p",
         "auth": {"method": "token", "token": {"env": "VAULT_TOKEN_FOR_BROKER"}}}


def config(backend=None, host="registry.example.com", **extra) -> dict:
    return {"registries": {"r": {"host": host, "backend": backend or SM, **extra}}}


def refused(proc, *expected: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


def test_an_env_reference_the_function_will_not_have_is_refused(tmp_path):
    refused(build(config(VAULT), tmp_path / "a"), "VAULT_TOKEN_FOR_BROKER", "--env")


def test_env_gives_the_function_a_variable(tmp_path):
    proc = build(config(VAULT), tmp_path, "--env", "VAULT_TOKEN_FOR_BROKER=from-deploy")
    assert proc.returncode == 0, proc.stderr
    environment = json.loads((tmp_path / "build" / "deploy.json").read_text())["environment"]
    assert environment["VAULT_TOKEN_FOR_BROKER"] == "from-deploy"
    assert "visible to anyone who can read the function's configuration" in proc.stderr


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost:5000", "[::1]:5000",
                                  "169.254.169.254", "LOCALHOST"])
def test_a_loopback_or_link_local_registry_is_refused(tmp_path, host):
    refused(build(config(host=host), tmp_path), "registries.r.host", "loopback or link-local")


@pytest.mark.parametrize("address", ["https://127.0.0.1:8200", "https://localhost:8200",
                                     "https://[fe80::1]:8200"])
def test_a_loopback_or_link_local_vault_is_refused(tmp_path, address):
    backend = {**VAULT, "address": address}
    refused(build(config(backend), tmp_path, "--env", "VAULT_TOKEN_FOR_BROKER=x"),
            "registries.r.backend.address", "loopback or link-local")


def test_a_malformed_region_is_refused(tmp_path):
    refused(build(config({**SM, "region": "eu-west1"}), tmp_path), "registries.r.backend.region")


def test_a_secret_read_in_another_region_than_the_stage_warns(tmp_path):
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/registry-AbCdEf"
    proc = build(config({**SM, "secret_id": arn}), tmp_path, "--region", "us-east-1")
    assert proc.returncode == 0, proc.stderr
    assert ("warning: registries.r.backend is read in eu-west-1, across regions from the "
            "stage's us-east-1") in proc.stderr
    quiet = build(config({**SM, "secret_id": arn}), tmp_path / "b", "--region", "eu-west-1")
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


GAR = {"type": "gar", "audience": "//iam.googleapis.com/projects/1/locations/global/"
                                  "workloadIdentityPools/aws/providers/broker"}


def test_gar_vendors_google_auth_and_needs_no_iam_statement(tmp_path):
    import zipfile

    proc = build(config(GAR, host="us-docker.pkg.dev"), tmp_path, "--arch", "x86_64")
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "build" / "broker.zip") as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {"google", "cryptography", "requests"} <= tops and "hvac" not in tops
    deploy = json.loads((tmp_path / "build" / "deploy.json").read_text())
    assert not any("sts:" in json.dumps(s) or "gar" in s.get("Sid", "").lower()
                   for s in deploy["iamStatements"])


def test_gar_sending_the_signed_identity_to_loopback_is_refused(tmp_path):
    backend = {**GAR, "token_url": "https://127.0.0.1:8443/v1/token"}
    refused(build(config(backend, host="us-docker.pkg.dev"), tmp_path),
            "registries.r.backend.token_url", "loopback or link-local")


def test_the_canary_included_by_a_stage_parameter_is_name_checked(tmp_path):
    """functions: the canary comes from deploy/optional.yml by the `canary` parameter, the
    rotation function from deploy.json; their names are checked whether or not they are
    deployed."""
    from deploy.build import function_names
    from tests.support.packaging import ROOT

    service, names = function_names(ROOT / "serverless.yml", "prod")
    assert service == "registry-broker"
    assert names == ["registry-broker-prod-broker", "registry-broker-prod-canary",
                     "registry-broker-prod-rotation"]
