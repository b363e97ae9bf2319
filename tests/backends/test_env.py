"""The env backend: the login from two environment variables."""

from __future__ import annotations

import pytest

from broker.errors import MalformedSecret
from tests.backends.contract import BackendContract, Store, expect_error, make_app


class EnvStore(Store):
    backend_type = "env"

    def backend(self):
        return {"type": "env", "username_var": f"{self.ref}_USER", "password_var": f"{self.ref}_PASS"}

    def put_login(self, username, password):
        self.environ.update({f"{self.ref}_USER": username, f"{self.ref}_PASS": password})

    def down(self):
        self.saved = dict(self.environ)
        self.environ.clear()

    def up(self):
        self.environ.update(self.saved)


@pytest.fixture
def store():
    return EnvStore()


class TestEnv(BackendContract):
    def test_nul_byte_in_username_is_malformed(self, store, clock):
        store.put_login("bad\x00name", "pw")
        error = expect_error(make_app(store, clock), MalformedSecret, store)
        assert "NUL" in str(error)
