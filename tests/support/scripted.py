"""A loopback HTTP server whose answers are written by hand, for hostile-registry tests.

``ScriptedServer(host).on("/v2/", answer)`` answers ``GET /v2/`` (any method, query ignored)
with ``answer(request)``, which returns raw bytes or a list of ``(bytes, pause_seconds)``
steps (to drip a body, or stall before the headers). Every request is recorded with its
headers and body, so a test can assert what reached the server, or that nothing did.
One request per connection: each answer is written, then the connection is closed.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answer = bytes | list[tuple[bytes, float]]


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    sni: str | None = None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def response(status: int, headers: list[tuple[str, str]] | None = None, body: bytes = b"",
             *, length: int | None = None) -> bytes:
    """Raw HTTP/1.1 response bytes; ``length`` overrides Content-Length (to truncate a body)."""
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    lines += [f"Content-Length: {len(body) if length is None else length}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def challenge(header: str) -> bytes:
    """A 401 carrying one ``WWW-Authenticate`` header."""
    return response(401, [("WWW-Authenticate", header)])


def json_body(text: str, status: int = 200, extra: list[tuple[str, str]] | None = None) -> bytes:
    return response(status, [("Content-Type", "application/json"), *(extra or [])], text.encode())


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


@dataclass
class ScriptedServer:
    """Serves scripted answers on ``host`` (a 127.0.0.0/8 address) and a free or given port."""

    host: str = "127.0.0.1"
    port: int = 0
    tls: ssl.SSLContext | None = None
    routes: dict[str, Callable[[Request], Answer]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fallback: Callable[[Request], Answer] | None = None  # answers every path without a route

    def __post_init__(self) -> None:
        self._sock = socket.create_server((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        self._sni = threading.local()
        if self.tls is not None:
            self.tls.sni_callback = self._remember_sni
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def on(self, path: str, answer: Callable[[Request], Answer] | Answer) -> ScriptedServer:
        """Answer ``path`` with ``answer`` (bytes, steps, or a function of the request)."""
        self.routes[path] = answer if callable(answer) else (lambda request: answer)
        return self

    def stop(self) -> None:
        self._stop.set()
        try:  # wakes the accept loop, so the port is free again at once
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def _remember_sni(self, sock: Any, name: str | None, context: Any) -> None:
        self._sni.name = name  # runs in the handshaking thread

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        sni = None
        try:
            if self.tls is not None:
                self._sni.name = None
                conn = self.tls.wrap_socket(conn, server_side=True)
                sni = self._sni.name
            request = _read_request(conn)
            if request is None:
                return
            request.sni = sni
            self.requests.append(request)
            route = self.routes.get(request.path) or self.fallback
            answer = route(request) if route else response(404)
            for chunk, pause in ([(answer, 0.0)] if isinstance(answer, bytes) else answer):
                time.sleep(pause)
                conn.sendall(chunk)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


def _read_request(conn: socket.socket) -> Request | None:
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = line.split(" ", 2)
    headers = {}
    for header in header_lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, target, headers, body)
