"""Shared fixtures: loopback stand-ins (moto, OpenBao), a fake clock, app factories, leak guard."""

from __future__ import annotations

import json
import os

import pytest

from tests.support import leaks
from tests.support.clock import FakeClock
from tests.support.proxy import TcpProxy
from tests.support.servers import MotoServer, OpenBaoServer, find_binary

for _name in list(os.environ):
    if _name.startswith(("AWS_", "VAULT_", "BAO_", "BROKER_")):
        del os.environ[_name]
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
                  AWS_SHARED_CREDENTIALS_FILE="/dev/null")

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    """The binary's path; a missing one fails the run in CI and skips elsewhere."""
    path = find_binary(name)
    if path:
        return path
    message = f"`{name}` is not installed (run `make test`, which installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail any test whose captured output or failure report carries a sentinel secret."""
    outcome = yield
    report = outcome.get_result()
    texts = [content for title, content in report.sections if title.endswith(report.when)]
    if call.excinfo is not None:
        texts.append(str(call.excinfo.getrepr(showlocals=False)))
    found = sorted({label for text in texts for label in leaks.leaks_in(text)})
    if found:
        report.outcome = "failed"
        report.longrepr = f"secret sentinel(s) leaked into captured output: {', '.join(found)}"


@pytest.fixture(scope="session")
def moto():
    """moto in server mode on 127.0.0.1, for Secrets Manager, SSM, STS and IAM."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def openbao():
    """A real OpenBao dev server on 127.0.0.1."""
    server = OpenBaoServer(require_binary("bao"), leaks.secret("bao-root-token")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def registries(tmp_path_factory):
    """Real distribution registries on 127.0.0.1: htpasswd, token auth, no auth, and one whose
    token realm sits on another host (127.0.0.2). Each holds team/trainer:v1."""
    from tests.support.registry_fixture import start_registries

    running = start_registries(require_binary("docker-registry"), tmp_path_factory.mktemp("reg"))
    yield running
    running.stop()


@pytest.fixture
def aws(moto):
    """boto3 clients straight to moto, for putting test data in place."""
    import boto3

    def client(service: str):
        return boto3.client(service, endpoint_url=moto.url, region_name="us-east-1")
    return client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def proxy_to():
    """``proxy_to(server)``: a stoppable TCP proxy in front of a stand-in; closed after the test."""
    proxies = []

    def make(server) -> TcpProxy:
        proxy = TcpProxy(("127.0.0.1", server.port)).start()
        proxies.append(proxy)
        return proxy
    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def log_lines(capsys):
    """``log_lines()``: the broker's JSON log lines written so far in this test."""
    seen: list[dict] = []

    def read() -> list[dict]:
        out = capsys.readouterr().out
        seen.extend(json.loads(line) for line in out.splitlines() if line.startswith("{"))
        return list(seen)
    return read
