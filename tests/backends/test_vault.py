"""The vault backend against a real OpenBao dev server: KV v1 and v2, token and AppRole auth."""

from __future__ import annotations

import contextlib
import time

import pytest

from broker.errors import AccessDenied, SecretNotFound
from tests.backends.contract import (
    BackendContract,
    DocumentContract,
    RemoteContract,
    Store,
    expect_error,
    invoke,
    login,
    make_app,
)
from tests.support import leaks

READER_POLICY = """
path "secret/data/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
"""


@pytest.fixture(scope="module")
def bao(openbao):
    """OpenBao with a KV v1 mount, a reader policy and an AppRole role using it."""
    root = openbao.client()
    if "kv1/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    root.sys.create_or_update_policy("reader", READER_POLICY)
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    return openbao


class VaultStore(Store):
    backend_type = "vault"

    def __init__(self, bao, proxy, kv_version=2, method="token"):
        super().__init__()
        self.bao, self.proxy, self.kv_version, self.method = bao, proxy, kv_version, method
        self.root = bao.client()
        self.mount = "secret" if kv_version == 2 else "kv1"
        self.environ = self.credentials(["reader"])

    def credentials(self, policies):
        """Environment holding a login for the configured auth method, with these policies."""
        if self.method == "token":
            token = self.root.auth.token.create(policies=policies, ttl="1h")["auth"]["client_token"]
            leaks.SENTINELS[token] = "vault-token"
            return {"BAO_TEST_TOKEN": token}
        role = f"r{self.ref}"
        self.root.auth.approle.create_or_update_approle(role, token_policies=policies, token_ttl="300s")
        secret_id = self.root.auth.approle.generate_secret_id(role)["data"]["secret_id"]
        leaks.SENTINELS[secret_id] = "approle-secret-id"
        role_id = self.root.auth.approle.read_role_id(role)["data"]["role_id"]
        return {"BAO_ROLE_ID": role_id, "BAO_SECRET_ID": secret_id}

    def auth(self):
        if self.method == "token":
            return {"method": "token", "token": {"env": "BAO_TEST_TOKEN"}}
        return {"method": "approle", "role_id": {"env": "BAO_ROLE_ID"},
                "secret_id": {"env": "BAO_SECRET_ID"}}

    def backend(self):
        return {"type": "vault", "address": self.proxy.url, "insecure": True, "mount": self.mount,
                "path": self.ref,
                "kv_version": self.kv_version, "auth": self.auth()}

    def identity(self):
        return [f"at {self.proxy.url}", f"mount '{self.mount}'"]

    def put_login(self, username, password):
        self.put_document({"username": username, "password": password})

    def put_document(self, document):
        kv = self.root.secrets.kv
        if self.kv_version == 2:
            kv.v2.create_or_update_secret(path=self.ref, secret=document, mount_point=self.mount)
        else:
            kv.v1.create_or_update_secret(path=self.ref, secret=document, mount_point=self.mount)

    def down(self):
        self.proxy.stop()

    def up(self):
        self.proxy.start()

    @contextlib.contextmanager
    def denied(self):
        yield {"environ": self.credentials(["default"])}


class VaultContract(BackendContract, DocumentContract, RemoteContract):
    pass


class TestKv2Token(VaultContract):
    @pytest.fixture
    def store(self, bao, proxy_to):
        return VaultStore(bao, proxy_to(bao), kv_version=2, method="token")

    def test_revoked_token_is_replaced_by_a_fresh_login(self, store, clock):
        username, password = login()
        store.put_login(username, password)
        app = make_app(store, clock)
        invoke(app)
        store.root.auth.token.revoke(store.environ["BAO_TEST_TOKEN"])
        store.environ.update(store.credentials(["reader"]))  # the reference now holds a new token
        clock.advance(61)
        assert invoke(app)["Credentials"]["Password"] == password
        assert app.broker().backends["acme"].logins == 2

    def test_expired_token_without_a_new_one_is_denied(self, store, clock):
        store.put_login(*login())
        token = store.root.auth.token.create(policies=["reader"], ttl="1s")["auth"]["client_token"]
        leaks.SENTINELS[token] = "vault-token"
        store.environ["BAO_TEST_TOKEN"] = token
        app = make_app(store, clock)
        invoke(app)
        time.sleep(1.5)
        clock.advance(61)
        error = expect_error(app, AccessDenied, store)
        assert "after a fresh login" in str(error)

    def test_soft_deleted_secret_is_not_found(self, store, clock):
        store.put_login(*login())
        store.root.secrets.kv.v2.delete_latest_version_of_secret(path=store.ref, mount_point="secret")
        expect_error(make_app(store, clock), SecretNotFound, store)

    def test_kv_version_mismatch_says_so(self, store, clock):
        store.put_login(*login())
        app = make_app(store, clock, backend={**store.backend(), "mount": "kv1"})
        error = expect_error(app, SecretNotFound, store)
        assert "kv_version" in str(error)

    def test_kv1_reader_on_a_kv2_mount_says_so(self, store, clock):
        store.put_login(*login())
        app = make_app(store, clock, backend={**store.backend(), "kv_version": 1})
        error = expect_error(app, AccessDenied, store)
        assert "kv_version" in str(error)

    def test_missing_token_reference(self, store, clock):
        store.environ.clear()
        error = expect_error(make_app(store, clock), SecretNotFound, store)
        assert "env:BAO_TEST_TOKEN" in str(error)


class TestKv1AppRole(VaultContract):
    @pytest.fixture
    def store(self, bao, proxy_to):
        return VaultStore(bao, proxy_to(bao), kv_version=1, method="approle")

    def test_token_is_renewed_before_its_lease_ends(self, store, clock):
        store.put_login(*login())
        app = make_app(store, clock)
        invoke(app)
        clock.advance(61)
        invoke(app)
        backend = app.broker().backends["acme"]
        assert backend.logins == 1, "a token with most of its 300 s lease left is reused"
        clock.advance(140)  # 201 s into a 300 s lease: past two thirds
        invoke(app)
        assert backend.logins == 2

    def test_wrong_secret_id_is_denied_naming_the_auth_mount(self, store, clock):
        store.put_login(*login())
        store.environ["BAO_SECRET_ID"] = leaks.secret("approle-secret-id")
        with pytest.raises(AccessDenied) as info:
            invoke(make_app(store, clock))
        assert "auth/approle" in str(info.value) and "registry 'acme'" in str(info.value)
        leaks.assert_clean(info.value)


    def test_a_login_with_a_secrets_manager_reference_fits_a_10_s_function(self, store, clock,
                                                                         aws, moto):
        """Issue 17, item 6: an AppRole login whose secret_id is a Secrets Manager reference
        (3 calls of up to 5 s) was never tried with a 10 s function timeout, though it takes
        milliseconds: an attempt now starts when its first call fits, and shrinks to fit."""
        from broker.aws import AwsClients
        from broker.cli import LocalContext

        username, password = login()
        store.put_login(username, password)
        aws("secretsmanager").create_secret(Name=f"vault/{store.ref}",
                                            SecretString=store.environ["BAO_SECRET_ID"])
        backend = {**store.backend(), "auth": {"method": "approle",
                                               "role_id": {"env": "BAO_ROLE_ID"},
                                               "secret_id": {"secretsmanager": f"vault/{store.ref}"}}}
        app = make_app(store, clock, {"aws": AwsClients(endpoint_url=moto.url)}, backend=backend)
        answer = app.invoke({}, LocalContext("acme", timeout_ms=10_000))
        assert answer["Credentials"] == {"Username": username, "Password": password}

    def test_forget_secrets_drops_the_token(self, store, clock):
        store.put_login(*login())
        app = make_app(store, clock)
        invoke(app)
        backend = app.broker().backends["acme"]
        assert backend.client.token
        app.forget_secrets()
        assert backend.client.token == "" and not app.broker().cache._entries
        invoke(app)
        assert backend.logins == 2
