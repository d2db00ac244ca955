"""Background jobs on apscheduler: one job, run every so often, never two runs at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler


class IntervalJob:
    def __init__(self, name: str, seconds: float, run: Callable[[], None]) -> None:
        self._name = name
        self._seconds = seconds
        self._run = run
        self._scheduler: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._scheduler is not None:
                return
            scheduler = BackgroundScheduler(daemon=True)
            scheduler.add_job(
                self._run,
                "interval",
                seconds=self._seconds,
                id=self._name,
                max_instances=1,
                coalesce=True,
            )
            scheduler.start()
            self._scheduler = scheduler

    def stop(self) -> None:
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)

    def run_soon(self) -> None:
        """Run now rather than at the next interval (a no-op while stopped)."""
        with self._lock:
            if self._scheduler is not None:
                self._scheduler.modify_job(self._name, next_run_time=datetime.now().astimezone())
