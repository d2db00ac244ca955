"""One turn of one built-in agent: leased, so one process at a time acts for it, and quiet
about refusals.

A refusal is the node's answer, not a fault: a removed agent (or an unknown token) is retired
and its token forgotten; a suspended agent, or one whose scopes were narrowed, or one over its
rate limit, is paused and tried again later, each time twice as late (1 minute up to an hour),
so a long suspension costs the trail a refused attempt an hour, not one a minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from .api import AgentApi, Refused
from .state import AgentStates, Enabled

log = logging.getLogger(__name__)

FIRST_PAUSE = 60.0
LONGEST_PAUSE = 3600.0


@dataclass(frozen=True)
class Turn:
    agent: Enabled
    api: AgentApi
    renew: Callable[[], bool]  # keep the lease for a long turn; False: it was lost


def pause_after(failures: int, refused: Refused) -> float:
    if refused.status == 429 and refused.retry_after is not None:
        return refused.retry_after
    return min(FIRST_PAUSE * 2.0**failures, LONGEST_PAUSE)


class Acting:
    def __init__(
        self,
        states: AgentStates,
        http: httpx.Client,
        now: Callable[[], datetime],
        holder: str,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._states = states
        self._http = http
        self._now = now
        self._holder = holder
        self._lease = lease

    @property
    def holder(self) -> str:
        return self._holder

    def due(self, builtin: str) -> list[Enabled]:
        return self._states.due(builtin, self._now())

    def each(self, builtin: str, act: Callable[[Turn], int]) -> int:
        """A turn for every agent of the built-in that may act now; what they did, summed."""
        return sum(self.turn(agent, act) for agent in self.due(builtin))

    def turn(self, agent: Enabled, act: Callable[[Turn], int]) -> int:
        if not self._renew(agent.agent_id):
            return 0  # another process is acting for it
        try:
            api = AgentApi(self._http, agent.token)
            done = act(Turn(agent, api, lambda: self._renew(agent.agent_id)))
        except Refused as refused:
            self._refused(agent, refused)
            return 0
        except httpx.HTTPError as error:
            log.warning("built-in agent %s: %s; trying again later", agent.agent_id, error)
            return 0
        finally:
            self._states.unlease(agent.agent_id, self._holder)
        if agent.failures:
            self._states.succeeded(agent.agent_id)
        return done

    def _renew(self, agent_id: str) -> bool:
        return self._states.lease(agent_id, self._holder, self._now(), self._lease)

    def _refused(self, agent: Enabled, refused: Refused) -> None:
        if refused.final:
            log.info("built-in agent %s is gone (%s): retired", agent.agent_id, refused.detail)
            self._states.retire(agent.agent_id)
            return
        pause = pause_after(agent.failures, refused)
        log.info("built-in agent %s refused (%s): again in %.0f s", agent.agent_id, refused, pause)
        self._states.pause(agent.agent_id, self._now() + timedelta(seconds=pause))
