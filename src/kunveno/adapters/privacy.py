"""Privacy jobs: personal data that has served its purpose is dropped on a schedule.

An anonymous registrant's optional email exists only to reach them about that gathering: once
it has ended, the registration's data key is destroyed, so the email is unreadable in the log
too (the registration itself still counts).
"""

from __future__ import annotations

import logging
from uuid import UUID

from kunveno.adapters.persistence.pii import SubjectKeys
from kunveno.adapters.scheduler import IntervalJob
from kunveno.application.ports import Clock
from kunveno.projections.store import ReadStore, timestamp

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600


class PrivacyJobs:
    def __init__(self, store: ReadStore, keys: SubjectKeys, clock: Clock) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock
        self._job = IntervalJob("privacy", INTERVAL_SECONDS, self._run)

    def drop_ended_contacts(self) -> int:
        """Shred the contact of every anonymous registrant of a gathering that has ended."""
        rows = self._store.query(
            "SELECT r.id FROM rm_registrations r "
            "JOIN rm_gatherings g ON g.id = r.gathering_id "
            "JOIN pii_keys k ON k.subject = r.id "
            "WHERE r.kind = 'anonymous' AND g.ends_at < %s AND k.data_key IS NOT NULL",
            (timestamp(self._clock.now()),),
        )
        for row in rows:
            self._keys.erase(UUID(row["id"]))
        return len(rows)

    def start(self) -> None:
        self._job.start()

    def stop(self) -> None:
        self._job.stop()

    def _run(self) -> None:
        try:
            dropped = self.drop_ended_contacts()
        except Exception:
            log.exception("the privacy job failed; it runs again in an hour")
            return
        if dropped:
            log.info("dropped the contact of %d anonymous registrants", dropped)
