"""The zip `make package` builds, unzipped and run by awslambdaric on Python 3.12 under AWS's
Runtime Interface Emulator, invoked over its HTTP endpoint, against moto, OpenBao and
Debian's docker-registry. No secret may appear anywhere in what the runtime prints."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import leaks

pytestmark = pytest.mark.slow


def assert_clean(runtime) -> None:
    assert not leaks.leaks_in(runtime.output), "a secret reached the runtime's output"


def served(answer: dict) -> tuple[str, str]:
    assert "errorType" not in answer, answer.get("errorMessage")
    return answer["Credentials"]["Username"], answer["Credentials"]["Password"]


@pytest.mark.parametrize("alias", ["sm", "ssm", "vault"])
def test_each_backend_is_served_through_its_alias(lambda_tools, deployed, alias):
    with deployed.run(lambda_tools, alias) as runtime:
        assert served(runtime.invoke({})) == deployed.logins[alias]
    assert [line["registry"] for line in runtime.log_lines()] == [alias]
    assert_clean(runtime)


def test_gar_mints_with_the_vendored_google_auth(lambda_tools, deployed, google):
    """google-auth and its compiled cryptography, from the zip, sign the function's AWS
    identity; the stand-in has AWS verify it, then the service account's token is served."""
    with deployed.run(lambda_tools, "gar", **google.environment) as runtime:
        assert served(runtime.invoke({})) == ("oauth2accesstoken", google.minted)
    assert google.replays[-1] == 200 and google.wrong == []
    assert 3500 < runtime.log_lines()[-1]["expires_in_s"] <= 3600
    assert_clean(runtime)


def test_artifactory_mints_from_the_functions_signed_identity(lambda_tools, deployed, jfrog):
    """botocore's signer, from the runtime, signs GetCallerIdentity; the JFrog stand-in has AWS
    (moto, IAM authentication on) verify it, then mints the mapped user's token."""
    with deployed.run(lambda_tools, "artifactory", **jfrog.environment) as runtime:
        assert served(runtime.invoke({})) == ("svc-puller", jfrog.minted)
    assert jfrog.replays[-1] == 200 and jfrog.wrong == []
    assert 3500 < runtime.log_lines()[-1]["expires_in_s"] <= 3600
    assert_clean(runtime)


def test_the_acr_plugin_is_found_by_entry_point_and_mints_with_the_vendored_msal(
        lambda_tools, deployed, azure):
    """The plugin's code and dist-info from the zip, msal and its cryptography vendored."""
    with deployed.run(lambda_tools, "acr") as runtime:
        assert served(runtime.invoke({})) == azure.expected("")
    assert azure.wrong == [] and len(azure.requests("registry")) >= 1
    assert_clean(runtime)


def test_a_second_invocation_is_served_from_the_cache(lambda_tools, deployed, store_proxy):
    with deployed.run(lambda_tools, "sm") as runtime:
        served(runtime.invoke({}))
        requests_before = len(store_proxy.seen)
        assert served(runtime.invoke({})) == deployed.logins["sm"]
        assert len(store_proxy.seen) == requests_before, "the cached login cost a store request"
    assert [line["source"] for line in runtime.log_lines()] == ["backend", "cache"]
    assert_clean(runtime)


def test_an_unqualified_invocation_is_refused(lambda_tools, deployed):
    with deployed.run(lambda_tools, None) as runtime:
        for event in ({}, {"registry": "sm"}):
            answer = runtime.invoke(event)
            assert answer["errorType"] == "RegistryNotAllowed"
            assert "not through a registry's alias" in answer["errorMessage"]
    assert_clean(runtime)


def test_a_backend_error_is_lambdas_error_payload(lambda_tools, deployed):
    with deployed.run(lambda_tools, "missing") as runtime:
        answer = runtime.invoke({})
    assert answer["errorType"] == "SecretNotFound"
    assert "registry 'missing'" in answer["errorMessage"] and "e2e/no-such-secret" in answer["errorMessage"]
    assert set(answer) == {"errorType", "errorMessage", "requestId", "stackTrace"}
    assert_clean(runtime)


def test_preflight_enforce_with_the_vendored_requests(lambda_tools, deployed):
    with deployed.run(lambda_tools, "enforced") as runtime:
        assert served(runtime.invoke({})) == deployed.logins["reader"]
    line = runtime.log_lines()[-1]
    assert (line["registry"], line["preflight"]) == ("enforced", "passed")
    assert_clean(runtime)
    no_requests = subprocess.run([str(lambda_tools.python), "-c", "import requests"],
                                 capture_output=True)
    assert no_requests.returncode != 0, "the runtime has requests: the zip's copy went untested"


def test_an_ssm_configuration_in_yaml(lambda_tools, deployed_from_ssm):
    with deployed_from_ssm.run(lambda_tools, "sm") as runtime:
        assert served(runtime.invoke({})) == deployed_from_ssm.logins["sm"]
    assert_clean(runtime)
