"""Per-agent request limits: a token bucket per agent, in this process's memory."""

from __future__ import annotations

import math
import threading
import time
from uuid import UUID

from kunveno.domain.errors import DomainError


class RateLimited(DomainError):
    """Too many requests: answered 429 with ``Retry-After``."""

    code = "rate_limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class AgentLimits:
    def __init__(self, per_minute: int) -> None:
        self._capacity = float(max(1, per_minute))
        self._rate = self._capacity / 60.0  # tokens a second
        self._lock = threading.Lock()
        self._buckets: dict[UUID, tuple[float, float]] = {}  # agent: (tokens, when)

    def take(self, agent_id: UUID) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(agent_id, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - then) * self._rate)
            if tokens < 1:
                self._buckets[agent_id] = (tokens, now)
                wait = math.ceil((1 - tokens) / self._rate)
                raise RateLimited(
                    f"this agent may make {int(self._capacity)} requests a minute: "
                    f"try again in {wait} s",
                    retry_after=wait,
                )
            self._buckets[agent_id] = (tokens - 1, now)
