"""A node served on its own loopback port, with the two federation test settings on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from conftest import LiveServer, free_port, test_settings
from kunveno.bootstrap import Container, build


@dataclass
class ServedNode:
    container: Container
    api: httpx.Client
    url: str


@contextmanager
def served_node(database_url: str) -> Iterator[ServedNode]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = test_settings(
        database_url,
        base_url=url,
        federation_allow_http=True,
        federation_allow_private=True,
    )
    container = build(settings)
    try:
        with LiveServer(container, port), httpx.Client(base_url=url, timeout=15) as api:
            yield ServedNode(container, api, url)
    finally:
        container.close()
