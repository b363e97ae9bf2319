"""The secretsmanager backend against moto in server mode."""

from __future__ import annotations

import json

import pytest

from broker.errors import MalformedSecret
from tests.backends.aws_store import AwsStore
from tests.backends.contract import (
    BackendContract,
    DocumentContract,
    RemoteContract,
    TextDocumentContract,
    expect_error,
    invoke,
    login,
    make_app,
)


class SecretsManagerStore(AwsStore):
    backend_type = "secretsmanager"

    def backend(self):
        return {"type": "secretsmanager", "secret_id": self.ref}

    def put_login(self, username, password):
        self.put_document({"username": username, "password": password})

    def put_document(self, document):
        text = document if isinstance(document, str) else json.dumps(document)
        client = self.admin("secretsmanager")
        try:
            client.put_secret_value(SecretId=self.ref, SecretString=text)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=self.ref, SecretString=text)


@pytest.fixture
def store(aws, moto, proxy_to):
    return SecretsManagerStore(aws, proxy_to(moto))


class TestSecretsManager(BackendContract, DocumentContract, TextDocumentContract, RemoteContract):
    def test_binary_secret_is_malformed(self, store, aws, clock):
        aws("secretsmanager").create_secret(Name=store.ref, SecretBinary=b"\x00\xff")
        error = expect_error(make_app(store, clock), MalformedSecret, store)
        assert "SecretBinary" in str(error)

    def test_version_stage(self, store, aws, clock):
        old_user, old_password = login()
        store.put_login(old_user, old_password)
        store.put_login(*login())
        app = make_app(store, clock, backend={**store.backend(), "version_stage": "AWSPREVIOUS"})
        assert invoke(app)["Credentials"]["Password"] == old_password

    def test_arn_reference(self, store, aws, clock):
        username, password = login()
        store.put_login(username, password)
        arn = aws("secretsmanager").describe_secret(SecretId=store.ref)["ARN"]
        app = make_app(store, clock, backend={**store.backend(), "secret_id": arn})
        assert invoke(app)["Credentials"]["Password"] == password

    def test_an_arn_in_another_region_is_read_in_that_region(self, store, moto, clock):
        """Issue 17, item 2: without `region`, an ARN in eu-west-1 was looked up in the
        function's us-east-1 and reported as not existing."""
        import boto3

        username, password = login()
        elsewhere = boto3.client("secretsmanager", endpoint_url=moto.url, region_name="eu-west-1")
        arn = elsewhere.create_secret(Name=store.ref, SecretString=json.dumps(
            {"username": username, "password": password}))["ARN"]
        assert ":eu-west-1:" in arn
        app = make_app(store, clock, backend={**store.backend(), "secret_id": arn})
        assert invoke(app)["Credentials"]["Password"] == password

    def test_role_arn_is_assumed_first(self, store, aws, clock):
        username, password = login()
        store.put_login(username, password)
        role = aws("iam").create_role(RoleName=f"reader-{store.ref}", AssumeRolePolicyDocument="{}")
        app = make_app(store, clock, backend={**store.backend(), "role_arn": role["Role"]["Arn"]})
        assert invoke(app)["Credentials"]["Password"] == password
        creds = app.aws.session(role["Role"]["Arn"]).get_credentials()
        assert creds.access_key != "testing", "the client must sign with the assumed role's keys"
