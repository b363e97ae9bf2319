"""Loopback fault injection: an HTTP proxy that answers from a plan, and a black hole.

``FaultProxy(upstream).plan = [THROTTLE, SERVER_ERROR, PASS]`` answers the first
request with a throttling error, the second with a 503, and forwards the rest
(PASS is also what it does once the plan runs out). ``HANG`` never answers,
``DROP`` closes the connection without a word.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.servers import free_port

PASS, HANG, DROP = "pass", "hang", "drop"
THROTTLE = (400, {"x-amzn-ErrorType": "ThrottlingException"},
            {"__type": "ThrottlingException", "message": "Rate exceeded"})
SERVER_ERROR = (503, {}, {"__type": "ServiceUnavailableException", "message": "try later",
                          "errors": ["service unavailable"]})
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class FaultProxy:
    """Forwards to ``upstream`` (host, port) unless the plan says otherwise; records each request."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.plan: list = []
        self.seen: list[tuple[str, str, str]] = []
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> object:
        return self.plan.pop(0) if self.plan else PASS

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy._next()
                proxy.seen.append((self.command, self.path, action if isinstance(action, str)
                                   else str(action[0])))
                if action == HANG:
                    proxy._release.wait(30)
                    self.close_connection = True
                elif action == DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif action == PASS:
                    self._forward(body)
                else:
                    self._answer(*action)

            def _answer(self, status, headers, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _forward(self, body):
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=10)
                upstream.request(self.command, self.path, body=body or None,
                                 headers={k: v for k, v in self.headers.items()})
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        return Handler


class BlackHole:
    """A port that accepts TCP connections into its backlog and never answers a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()


def unanswered_listener(host: str) -> tuple[socket.socket, int, list[socket.socket]]:
    """A listener on ``host`` whose accept queue is full: a further connect hangs (its SYN is
    dropped). Returns the listener, its port and the connections filling the queue."""
    import time

    server = socket.socket()
    server.bind((host, 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect((host, port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.2)
    return server, port, fillers
