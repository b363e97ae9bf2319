"""Start the loopback stand-ins the tests (and `make demo`) use: moto and OpenBao."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_binary(name: str) -> str | None:
    """``name`` on PATH, or beside this Python (a virtualenv's bin/)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.exists() else None)


def wait_for_http(url: str, timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers with any HTTP status."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout}s") from None
            time.sleep(0.05)


class MotoServer:
    """moto in server mode on a thread: a real HTTP endpoint on 127.0.0.1."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._server.start()
        wait_for_http(f"{self.url}/moto-api/")
        return self

    def stop(self) -> None:
        self._server.stop()


class OpenBaoServer:
    """``bao server -dev`` on a free loopback port, with a known root token."""

    def __init__(self, binary: str, root_token: str) -> None:
        self.binary = binary
        self.root_token = root_token
        self.port = free_port()
        self._proc: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpenBaoServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        self._proc = subprocess.Popen(
            [self.binary, "server", "-dev", f"-dev-root-token-id={self.root_token}",
             f"-dev-listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT, env={**env, "HOME": tempfile.gettempdir()})
        wait_for_http(f"{self.url}/v1/sys/health")
        return self

    def client(self, token: str | None = None):
        """An hvac client for setting the server up (root token unless told otherwise)."""
        import hvac

        return hvac.Client(url=self.url, token=token or self.root_token)

    def stop(self) -> None:
        if self._proc:
            self._proc.terminate()
            self._proc.wait(10)
