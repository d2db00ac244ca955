"""Local people and remote things: following remote actors, joining remote gatherings, and
the cache of remote gatherings heard from the actors they follow.

The activity a request sends (Follow, Join) gets the id the outbox will give it, derived from
the request's stream and version, so an Accept naming that id finds the request again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from kunveno.application.log import CommandBus, Decision, EventLog, Outcome
from kunveno.application.ports import Clock
from kunveno.domain.errors import NotFound, PermissionDenied
from kunveno.domain.outgoing import OutgoingRequest, RequestKind, RequestStatus
from kunveno.domain.remote_gathering import RemoteGathering

# (stream id, version) -> the id of the activity the outbox derives from that event
ActivityUrl = Callable[[UUID, int], str]


@dataclass(frozen=True)
class Target:
    """A remote thing and the inbox that answers for it."""

    url: str
    inbox: str


class OutgoingService:
    def __init__(
        self, log: EventLog, commands: CommandBus, clock: Clock, activity_url: ActivityUrl
    ) -> None:
        self._log = log
        self._commands = commands
        self._clock = clock
        self._activity_url = activity_url

    # -- asking -----------------------------------------------------------------------------

    def request(self, kind: RequestKind, person_id: UUID, target: Target) -> Outcome[RequestStatus]:
        request_id = OutgoingRequest.id_for(kind, person_id, target.url)

        def decide() -> Decision[RequestStatus]:
            now = self._clock.now()
            if self._log.exists(request_id):
                request = self._log.load(OutgoingRequest, request_id, "request")
                next_id = self._activity_url(request_id, request.version + 1)
                request.send_again(inbox=target.inbox, activity_id=next_id, at=now)
            else:
                request = OutgoingRequest.send(
                    kind=kind,
                    person_id=person_id,
                    target=target.url,
                    inbox=target.inbox,
                    activity_id=self._activity_url(request_id, 1),
                    at=now,
                )
            return [request], request.status

        return self._commands.run(decide)

    def withdraw(self, kind: RequestKind, person_id: UUID, target_url: str) -> Outcome[bool]:
        request_id = OutgoingRequest.id_for(kind, person_id, target_url)

        def decide() -> Decision[bool]:
            if not self._log.exists(request_id):
                raise NotFound("nothing to withdraw")
            request = self._log.load(OutgoingRequest, request_id, "request")
            return [request], request.withdraw(at=self._clock.now())

        return self._commands.run(decide)

    # -- answers from the other side ----------------------------------------------------------

    def answer(
        self,
        request_id: UUID,
        activity_id: str,
        *,
        accepted: bool,
        by: str,
        speaks_for: Callable[[RequestKind, str], bool],
    ) -> Outcome[bool]:
        """An Accept or Reject by ``by`` naming our activity ``activity_id``; ``speaks_for``
        says whether ``by`` may answer for the request's target (the adapter knows URLs)."""

        def decide() -> Decision[bool]:
            if not self._log.exists(request_id):
                return [], False
            request = self._log.load(OutgoingRequest, request_id, "request")
            if request.activity_id != activity_id:
                return [], False  # an answer to an earlier ask: the current one stands
            if not speaks_for(request.kind, request.target):
                raise PermissionDenied("only the target's server answers this request")
            request.answer(accepted=accepted, by=by, at=self._clock.now())
            return [request], True

        return self._commands.run(decide)

    # -- remote gatherings ------------------------------------------------------------------

    def hear_gathering(
        self, url: str, organiser: str, details: dict[str, Any], by: str
    ) -> Outcome[None]:
        gathering_id = RemoteGathering.id_for(url)

        def decide() -> Decision[None]:
            now = self._clock.now()
            if self._log.exists(gathering_id):
                gathering = self._log.load(RemoteGathering, gathering_id, "remote gathering")
                gathering.change(details, by=by, at=now)
            else:
                gathering = RemoteGathering.hear(
                    url=url, organiser=organiser, details=details, by=by, at=now
                )
            return [gathering], None

        return self._commands.run(decide)

    def remove_gathering(self, url: str, by: str) -> Outcome[bool]:
        gathering_id = RemoteGathering.id_for(url)

        def decide() -> Decision[bool]:
            if not self._log.exists(gathering_id):
                return [], False
            gathering = self._log.load(RemoteGathering, gathering_id, "remote gathering")
            gathering.remove(by=by, at=self._clock.now())
            return [gathering], True

        return self._commands.run(decide)
