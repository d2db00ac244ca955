"""Tiny scripted HTTP servers on loopback for the outbound-fetch tests.

A plain module (not a ``conftest.py``, see ``api_helpers``). Each server binds port 0 on a
loopback address, answers each path with a scripted responder and records every request, so
a test can prove that a refused request never arrived.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AS_JSON = "application/activity+json"

Responder = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A dribbling responder may still be asleep when a test ends; don't wait for it.
    block_on_close = False

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.routes: dict[str, Responder] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        self._dispatch(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _dispatch(self, body: bytes) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.lock:
            self.server.seen.append(Seen(self.command, self.path, headers, body))
        responder = self.server.routes.get(self.path, reply(404))
        # The client hanging up mid-answer is what most refusals look like.
        with contextlib.suppress(ConnectionError):
            responder(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FetchServer:
    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, *, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def route(self, path: str, responder: Responder) -> str:
        """Serves ``responder`` at ``path``; returns the path's URL."""
        self._server.routes[path] = responder
        return self.url(path)

    @property
    def seen(self) -> list[Seen]:
        with self._server.lock:
            return list(self._server.seen)


@contextmanager
def serving(host: str = "127.0.0.1", port: int = 0) -> Iterator[FetchServer]:
    server = _Server((host, port))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield FetchServer(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def reply(
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    content_length: bool = True,
) -> Responder:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if content_length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return respond


def document(doc: dict[str, Any], content_type: str = AS_JSON) -> Responder:
    return reply(200, json.dumps(doc).encode(), {"Content-Type": content_type})


def redirect(location: str, status: int = 302) -> Responder:
    return reply(status, headers={"Location": location})


def dribble(interval: float, total: int) -> Responder:
    """A valid-looking body sent one byte per ``interval``: only a total deadline stops it."""

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", AS_JSON)
        handler.send_header("Content-Length", str(total))
        handler.end_headers()
        for _ in range(total):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(interval)

    return respond
