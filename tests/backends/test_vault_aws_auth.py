"""Vault's AWS IAM login: OpenBao has no AWS auth method, so the signed request is checked as sent."""

from __future__ import annotations

import base64
import json

import botocore.session
import pytest
import responses

from broker.aws import AwsClients
from tests.backends.contract import HOST, invoke, login
from tests.support import leaks

VAULT = "https://vault.test:8200"


@pytest.fixture
def signed_login(clock):
    """Run one invocation against a mocked Vault; return (login request body, response)."""
    username, password = login()
    token = leaks.secret("vault-token")

    def run(auth: dict, region: str = "eu-west-1"):
        session = botocore.session.Session()
        session.set_credentials("AKIDEXAMPLE", leaks.secret("aws-secret-key"),
                                leaks.secret("aws-session-token"))
        session.set_config_variable("region", region)
        from broker.app import App

        config = {"registries": {"acme": {"host": HOST, "backend": {
            "type": "vault", "address": VAULT, "path": "reg/acme", "auth": auth}}}}
        with responses.RequestsMock() as mock:
            mock.post(f"{VAULT}/v1/auth/{auth.get('mount', 'aws')}/login", json={
                "auth": {"client_token": token, "lease_duration": 900}})
            mock.get(f"{VAULT}/v1/secret/data/reg/acme", json={
                "data": {"data": {"username": username, "password": password}}})
            app = App(json.dumps(config), environ={}, aws=AwsClients(session=session), clock=clock)
            answer = invoke(app)
            body = json.loads(mock.calls[0].request.body)
            assert mock.calls[1].request.headers["X-Vault-Token"] == token
        return body, answer, session
    return run


def headers_of(body: dict) -> dict[str, str]:
    return {k: v[0] for k, v in json.loads(base64.b64decode(body["iam_request_headers"])).items()}


def test_login_is_signed_for_the_global_sts_endpoint_whatever_the_functions_region(signed_login):
    body, answer, session = signed_login({"method": "aws", "role": "registry-broker",
                                          "header_value": "vault.test"}, region="eu-west-1")
    headers = headers_of(body)
    creds = session.get_credentials()
    assert headers["X-Amz-Security-Token"] == creds.token
    assert "Credential=AKIDEXAMPLE/" in headers["Authorization"]
    # STS's global endpoint, and Vault's default sts_endpoint, only take us-east-1 (hvac#251).
    assert "/us-east-1/sts/aws4_request" in headers["Authorization"]
    assert base64.b64decode(body["iam_request_url"]).decode() == "https://sts.amazonaws.com/"
    assert headers["Host"] == "sts.amazonaws.com"
    assert body["role"] == "registry-broker"
    assert body["iam_http_request_method"] == "POST"
    assert base64.b64decode(body["iam_request_body"]).decode().startswith(
        "Action=GetCallerIdentity")
    assert answer["Credentials"]["Username"].startswith("username-SENTINEL")


def test_a_region_signs_a_regional_sts_request(signed_login):
    body, _, _ = signed_login({"method": "aws", "role": "r", "region": "ap-south-1",
                               "header_value": "vault.test", "mount": "aws-prod"})
    headers = headers_of(body)
    assert "/ap-south-1/sts/aws4_request" in headers["Authorization"]
    assert base64.b64decode(body["iam_request_url"]).decode() == "https://sts.ap-south-1.amazonaws.com/"
    assert headers["Host"] == "sts.ap-south-1.amazonaws.com"
    assert headers["X-Vault-AWS-IAM-Server-ID"] == "vault.test"
    assert "x-vault-aws-iam-server-id" in headers["Authorization"].lower(), "the header is signed"
