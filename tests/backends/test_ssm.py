"""The ssm backend against moto in server mode: one document parameter, or a username/password pair."""

from __future__ import annotations

import json

import pytest

from broker.errors import MalformedSecret, SecretNotFound
from tests.backends.aws_store import AwsStore
from tests.backends.contract import (
    BackendContract,
    DocumentContract,
    RemoteContract,
    TextDocumentContract,
    expect_error,
    login,
    make_app,
)


class SsmDocumentStore(AwsStore):
    backend_type = "ssm"

    def backend(self):
        return {"type": "ssm", "parameter": f"/{self.ref}/login"}

    def put_login(self, username, password):
        self.put_document({"username": username, "password": password})

    def put_document(self, document):
        text = document if isinstance(document, str) else json.dumps(document)
        self.put(f"/{self.ref}/login", text)

    def put(self, name, value):
        self.admin("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


class SsmPairStore(SsmDocumentStore):
    def backend(self):
        return {"type": "ssm", "username_parameter": f"/{self.ref}/user",
                "password_parameter": f"/{self.ref}/pass"}

    def put_login(self, username, password):
        self.put(f"/{self.ref}/user", username)
        self.put(f"/{self.ref}/pass", password)


@pytest.fixture
def document_store(aws, moto, proxy_to):
    return SsmDocumentStore(aws, proxy_to(moto))


@pytest.fixture
def pair_store(aws, moto, proxy_to):
    return SsmPairStore(aws, proxy_to(moto))


class TestSsmDocument(BackendContract, DocumentContract, TextDocumentContract, RemoteContract):
    @pytest.fixture
    def store(self, document_store):
        return document_store


class TestSsmPair(BackendContract, RemoteContract):
    @pytest.fixture
    def store(self, pair_store):
        return pair_store

    def test_one_parameter_missing_is_named(self, store, clock):
        store.put(f"/{store.ref}/user", "someone")
        error = expect_error(make_app(store, clock), SecretNotFound, store)
        assert f"missing: /{store.ref}/pass" in str(error)

    def test_empty_password_is_malformed(self, store, clock):
        store.put(f"/{store.ref}/user", "someone")
        store.put(f"/{store.ref}/pass", " ")
        error = expect_error(make_app(store, clock), MalformedSecret, store)
        assert f"/{store.ref}/pass" in str(error) and "empty" in str(error)

    def test_both_parameters_in_one_call(self, store, clock, moto):
        username, password = login()
        store.put_login(username, password)
        calls = []
        app = make_app(store, clock)
        client = app.broker().backends["acme"].client
        client.meta.events.register("before-call.ssm", lambda model, **_: calls.append(model.name))
        app.invoke({}, None)
        assert calls == ["GetParameters"]
