"""Whether a remote actor is blocked, by the node's blocklist read model.

Asked on every inbox request and every delivery, so the list is kept in memory and read
again after a couple of seconds: a new block takes effect within that time everywhere, at
once in the process that recorded it (``forget``).
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from kunveno.projections.queries import Queries

REFRESH_SECONDS = 2.0


class Blocks:
    def __init__(self, queries: Queries, *, refresh: float = REFRESH_SECONDS) -> None:
        self._queries = queries
        self._refresh = refresh
        self._lock = threading.Lock()
        self._expires = 0.0
        self._domains: frozenset[str] = frozenset()
        self._actors: frozenset[str] = frozenset()

    def is_blocked(self, actor_url: str) -> bool:
        domains, actors = self._current()
        if actor_url in actors:
            return True
        host = (urlsplit(actor_url).netloc or "").lower()
        names = {host, host.partition(":")[0]}
        for name in names:
            parts = name.split(".")
            if any(".".join(parts[i:]) in domains for i in range(len(parts))):
                return True
        return False

    def forget(self) -> None:
        """The blocklist changed here: read it again on the next question."""
        with self._lock:
            self._expires = 0.0

    def _current(self) -> tuple[frozenset[str], frozenset[str]]:
        with self._lock:
            if time.monotonic() < self._expires:
                return self._domains, self._actors
        rows = self._queries.blocks()
        domains = frozenset(r["value"] for r in rows if r["kind"] == "domain")
        actors = frozenset(r["value"] for r in rows if r["kind"] == "actor")
        with self._lock:
            self._domains, self._actors = domains, actors
            self._expires = time.monotonic() + self._refresh
        return domains, actors
