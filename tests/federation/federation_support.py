"""A node served on its own loopback port, with the two federation test settings on."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from conftest import LiveServer, free_port, test_settings
from kunveno.bootstrap import Container, build


@dataclass
class ServedNode:
    container: Container
    api: httpx.Client
    url: str


@contextmanager
def served_node(database_url: str, **extra: object) -> Iterator[ServedNode]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    options: dict[str, object] = {
        "base_url": url,
        "federation_allow_http": True,
        "federation_allow_private": True,
    }
    settings = test_settings(database_url, **(options | extra))
    container = build(settings)
    try:
        with LiveServer(container, port), httpx.Client(base_url=url, timeout=15) as api:
            yield ServedNode(container, api, url)
    finally:
        container.close()


def eventually(check: Callable[[], Any], timeout: float = 20) -> Any:
    """Poll until ``check`` returns something truthy (delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {check.__doc__ or check}")
        time.sleep(0.1)


def statuses(node: ServedNode, path: str, headers: dict[str, str]) -> dict[str, str]:
    answer = node.api.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    return {r["target"]: r["status"] for r in answer.json()}
