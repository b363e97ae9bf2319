"""Shared fixtures: loopback stand-ins (moto, OpenBao), a fake clock, app factories, leak guard."""

from __future__ import annotations

import json
import os
import traceback

import pytest

from broker.testing import clock, log_lines  # noqa: F401 - fixtures, shared with plugins' tests
from tests.support import leaks
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
    unavailable(f"`{name}` is not installed (run `make test`, which installs it)")


def unavailable(message: str):
    """A tool the tests need is missing: fail under CI=true, skip elsewhere."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail any test whose captured output or failure report carries a sentinel secret, or
    that caught (with pytest.raises) an exception whose full traceback, causes and contexts
    included, carries one."""
    outcome = yield
    report = outcome.get_result()
    texts = [content for title, content in report.sections if title.endswith(report.when)]
    if call.excinfo is not None:
        texts.append(str(call.excinfo.getrepr(showlocals=False, chain=True)))
    found = sorted({label for text in texts for label in leaks.leaks_in(text)})
    in_caught = sorted({label for text in _caught_tracebacks(item) for label in leaks.leaks_in(text)})
    if found:
        report.outcome = "failed"
        report.longrepr = f"secret sentinel(s) leaked into captured output: {', '.join(found)}"
    elif in_caught and report.when == "call":
        report.outcome = "failed"
        report.longrepr = ("secret sentinel(s) leaked into a caught exception's traceback: "
                           f"{', '.join(in_caught)}")


def _caught_tracebacks(item) -> list[str]:
    texts = []
    for info in getattr(item, "caught_exceptions", []):
        if getattr(info, "_excinfo", None) is not None:
            texts.append("".join(traceback.format_exception(info.value)))
    return texts


class _Recorded:
    """A pytest.raises context that remembers the ExceptionInfo it fills."""

    def __init__(self, context, caught: list) -> None:
        self.context, self.caught = context, caught

    def __enter__(self):
        info = self.context.__enter__()
        self.caught.append(info)
        return info

    def __exit__(self, *exc_info):
        return self.context.__exit__(*exc_info)

    def __getattr__(self, name):
        return getattr(self.context, name)


@pytest.fixture(autouse=True)
def guard_caught_exceptions(request, monkeypatch):
    """Record every exception a test catches with pytest.raises, for the leak guard."""
    real, caught = pytest.raises, []
    request.node.caught_exceptions = caught

    def raises(*args, **kwargs):
        if len(args) > 1:  # pytest.raises(Error, function, *args): the ExceptionInfo directly
            caught.append(real(*args, **kwargs))
            return caught[-1]
        return _Recorded(real(*args, **kwargs), caught)
    monkeypatch.setattr(pytest, "raises", raises)


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


@pytest.fixture(scope="session")
def example_config() -> dict:
    """examples/broker.yml, parsed."""
    import yaml

    from tests.support.packaging import EXAMPLE

    return yaml.safe_load(EXAMPLE.read_text())


@pytest.fixture(scope="session")
def packaged(example_config, tmp_path_factory):
    """The example broker.yml (all three backends), packaged with deploy/build.py and osls."""
    from tests.support.packaging import package

    return package(example_config, tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="session")
def packaged_plus_one(example_config, tmp_path_factory):
    """The example plus one Secrets Manager registry with two invoker roles, packaged."""
    from tests.support.packaging import package

    config = json.loads(json.dumps(example_config))
    config["registries"]["extra_team"] = {
        "host": "extra.example.com", "backend": {"type": "secretsmanager", "secret_id": "team/extra"},
        "invokers": ["arn:aws:iam::123456789012:role/TrainerA", "arn:aws:iam::123456789012:role/TrainerB"]}
    return package(config, tmp_path_factory.mktemp("plus-one"))


@pytest.fixture(scope="session")
def aws(moto):
    """boto3 clients straight to moto, for putting test data in place."""
    import boto3

    def client(service: str):
        return boto3.client(service, endpoint_url=moto.url, region_name="us-east-1")
    return client


@pytest.fixture
def scripted():
    """``scripted(host="127.0.0.1", port=0, tls=None)``: a ScriptedServer (a hostile registry,
    token server or Vault), stopped after the test."""
    from tests.support.scripted import ScriptedServer

    servers = []

    def make(host: str = "127.0.0.1", port: int = 0, tls=None) -> ScriptedServer:
        servers.append(ScriptedServer(host, port, tls))
        return servers[-1]
    yield make
    for server in servers:
        server.stop()


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
