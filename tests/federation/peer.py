"""A small ActivityPub peer for tests: a real HTTP server on loopback with its own RSA key.

It serves its actor document (only to signed GETs, like GoToSocial and bovine), records
every POST to its inbox with the headers it came with, and signs what it sends the way
Mastodon does. A plain module, not a conftest (see tests/integration/api_helpers.py).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kunveno.adapters.activitypub.signatures import sign_request

AS = "https://www.w3.org/ns/activitystreams"
Json = dict[str, Any]


class Peer:
    def __init__(self, name: str = "ada", *, require_signed_get: bool = True) -> None:
        self.name = name
        self.require_signed_get = require_signed_get
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.received: list[tuple[str, dict[str, str], Json]] = []
        self.fetches: list[tuple[str, dict[str, str]]] = []
        self.inbox_status = 202
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- identity -----------------------------------------------------------------------------

    @property
    def actor(self) -> str:
        return f"{self.base}/users/{self.name}"

    @property
    def key_id(self) -> str:
        return f"{self.actor}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.actor}/inbox"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def actor_document(self) -> Json:
        pem = (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        return {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": self.actor,
            "type": "Person",
            "preferredUsername": self.name,
            "name": self.name.title(),
            "inbox": self.inbox,
            "outbox": f"{self.actor}/outbox",
            "followers": f"{self.actor}/followers",
            "endpoints": {"sharedInbox": self.shared_inbox},
            "publicKey": {"id": self.key_id, "owner": self.actor, "publicKeyPem": pem},
        }

    def new_id(self, kind: str) -> str:
        return f"{self.base}/activities/{kind.lower()}-{uuid.uuid4()}"

    # -- sending ------------------------------------------------------------------------------

    def post(
        self,
        url: str,
        activity: Json,
        *,
        key: rsa.RSAPrivateKey | None = None,
        key_id: str | None = None,
        now: datetime | None = None,
        tamper: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]] | None = None,
    ) -> httpx.Response:
        """POST ``activity`` signed by this peer (or by ``key``/``key_id``, for hostile tests)."""
        body = json.dumps(activity).encode()
        headers = sign_request(
            method="POST",
            url=url,
            body=body,
            key_id=key_id or self.key_id,
            private_key=key or self.key,
            now=now or datetime.now(UTC),
            extra_headers={"Content-Type": "application/activity+json"},
        )
        if tamper is not None:
            headers, body = tamper(headers, body)
        return httpx.post(url, content=body, headers=headers, timeout=10)

    def follow(self, target: str, inbox: str) -> tuple[str, httpx.Response]:
        activity_id = self.new_id("Follow")
        activity = {
            "@context": AS,
            "id": activity_id,
            "type": "Follow",
            "actor": self.actor,
            "object": target,
        }
        return activity_id, self.post(inbox, activity)

    # -- what arrived -------------------------------------------------------------------------

    def wait_for(self, kind: str, timeout: float = 15, **fields: Any) -> Json:
        """The first received activity of ``kind`` whose top-level ``fields`` match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for _, _, activity in self.received:
                    if activity.get("type") == kind and all(
                        activity.get(k) == v for k, v in fields.items()
                    ):
                        return activity
            time.sleep(0.05)
        with self._lock:
            seen = [a.get("type") for _, _, a in self.received]
        raise AssertionError(f"no {kind} {fields} arrived within {timeout} s; got {seen}")

    def received_of(self, kind: str) -> list[tuple[str, dict[str, str], Json]]:
        with self._lock:
            return [r for r in self.received if r[2].get("type") == kind]

    # -- the server ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                with peer._lock:
                    peer.fetches.append((self.path, headers))
                if self.path.split("#")[0] != f"/users/{peer.name}":
                    self._answer(404, b"{}")
                elif peer.require_signed_get and "signature" not in headers:
                    self._answer(401, b'{"error": "sign your GET"}')
                else:
                    body = json.dumps(peer.actor_document()).encode()
                    self._answer(200, body, "application/activity+json")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with peer._lock:
                    peer.received.append((self.path, headers, json.loads(raw)))
                self._answer(peer.inbox_status, b"")

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> Peer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
