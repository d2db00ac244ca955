"""Whether a remote actor is blocked, by the node's blocklist read model."""

from __future__ import annotations

from urllib.parse import urlsplit

from kunveno.projections.queries import Queries


class Blocks:
    def __init__(self, queries: Queries) -> None:
        self._queries = queries

    def is_blocked(self, actor_url: str) -> bool:
        host = (urlsplit(actor_url).netloc or "").lower()
        return self._queries.is_blocked(host, actor_url) or self._queries.is_blocked(
            host.partition(":")[0], actor_url
        )
