"""The stream hub of a process: wakes open streams when the trail advances, shares each read
of the feed among the streams at the same position, and counts open streams per watcher.

Woken two ways: this process's projection runner calls ``advanced`` after every page it
folds (at once), and while any stream is open a poller reads the trail's tracked position
every half second (so writes folded by another process reach this one's streams too).
Reads run on a small thread pool of the hub's own, never on the request threads.

Why sharing a read is safe: read models fold the log in order, a page per transaction, so a
read of "rows after P" made when the trail stood at K holds every row up to K; a stream woken
because the trail reached K takes a read made at K or later, never an older one, or a full
page: the first rows after a position are the same whenever they are read (a stream behind,
catching up, shares every page with the others however far the trail has moved meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

from kunveno.adapters.agents.feed import Feed, FeedPage, trail_position
from kunveno.projections.store import ReadStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
STREAMS_PER_WATCHER = 5
SHARED_READS = 16  # reads kept for streams arriving at the same position a moment later
T = TypeVar("T")


class TooManyStreams(Exception):
    """A watcher already holds as many open streams as it may."""


@dataclass
class _LoopState:
    """What the streams served by one event loop share (a server has one loop)."""

    woken: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: int = 0
    poller: asyncio.Task[None] | None = None
    reads: OrderedDict[tuple[UUID, int], tuple[int, asyncio.Future[FeedPage]]] = field(
        default_factory=OrderedDict
    )


class StreamHub:
    def __init__(
        self,
        feed: Feed,
        store: ReadStore,
        *,
        per_watcher: int = STREAMS_PER_WATCHER,
        poll_seconds: float = POLL_SECONDS,
        threads: int = 4,
    ) -> None:
        self.feed = feed
        self._store = store
        self._per_watcher = per_watcher
        self._poll_seconds = poll_seconds
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._known = 0  # the trail has folded the log up to here
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        self._open: dict[str, int] = {}
        self._closed = False

    # -- how far the trail is -------------------------------------------------------------

    @property
    def known(self) -> int:
        return self._known

    @property
    def closed(self) -> bool:
        return self._closed

    def advanced(self, position: int) -> None:
        """The trail folded the log up to ``position`` (any thread): wake the streams."""
        with self._lock:
            if position <= self._known:
                return
            self._known = position
            loops = list(self._loops)
        for loop in loops:
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                loop.call_soon_threadsafe(self._wake, loop)

    def tracked(self) -> int:
        """The trail's position as its tracking row says (whichever process folded it)."""
        return trail_position(self._store)

    def close(self) -> None:
        """End every open stream (the node is closing)."""
        with self._lock:
            self._closed = True
            loops = list(self._loops)
        for loop in loops:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake, loop)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        state = self._loops.get(loop)
        if state is not None:
            woken, state.woken = state.woken, asyncio.Event()
            woken.set()

    # -- open streams per watcher ---------------------------------------------------------

    def open(self, watcher: str) -> Callable[[], None]:
        """Count a stream of ``watcher`` (``agent:ID``, ``person:ID``); answer its release."""
        with self._lock:
            if self._open.get(watcher, 0) >= self._per_watcher:
                raise TooManyStreams(f"at most {self._per_watcher} open streams each")
            self._open[watcher] = self._open.get(watcher, 0) + 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                left = self._open.get(watcher, 0) - 1
                if left > 0:
                    self._open[watcher] = left
                else:
                    self._open.pop(watcher, None)

        return release

    def open_streams(self, watcher: str) -> int:
        with self._lock:
            return self._open.get(watcher, 0)

    # -- for the streams (inside the event loop) ------------------------------------------

    def subscribe(self) -> None:
        state = self._state()
        state.subscribers += 1
        if state.poller is None or state.poller.done():
            state.poller = asyncio.get_running_loop().create_task(self._poll(state))

    def unsubscribe(self) -> None:
        state = self._state()
        state.subscribers -= 1

    async def wait(self, beyond: int, timeout: float) -> None:
        """Until the trail passes ``beyond``, the hub closes, or ``timeout`` seconds pass."""
        woken = self._state().woken
        if self._known > beyond or self._closed:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), timeout)

    async def page(self, community_id: UUID, after: int, fresh_as_of: int) -> FeedPage:
        """The feed page after ``after``, read when the trail stood at ``fresh_as_of`` or
        later: shared with every stream asking the same."""
        state = self._state()
        shared = state.reads.get((community_id, after))
        if shared is None or _failed(shared[1]) or not _fresh(shared, fresh_as_of):
            shared = self._read(state, community_id, after)
        # Shielded: a stream that goes away does not cancel the read for the others.
        page = await asyncio.shield(shared[1])
        if page.full and page.last is not None and (community_id, page.last) not in state.reads:
            # Behind: read the next page while the streams send this one.
            self._read(state, community_id, page.last)
        return page

    def _read(
        self, state: _LoopState, community_id: UUID, after: int
    ) -> tuple[int, asyncio.Future[FeedPage]]:
        shared = (self._known, asyncio.ensure_future(self.run(self.feed.page, community_id, after)))
        state.reads[(community_id, after)] = shared
        while len(state.reads) > SHARED_READS:
            state.reads.popitem(last=False)
        return shared

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """Blocking work (a database read) on the hub's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), lambda: work(*args))

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the stream hub is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="stream")
            return self._pool

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            with self._lock:
                state = self._loops.setdefault(loop, _LoopState())
        return state

    async def _poll(self, state: _LoopState) -> None:
        while state.subscribers > 0 and not self._closed:
            try:
                self.advanced(await self.run(self.tracked))
            except Exception:
                log.exception("could not read the trail's position; polling on")
            await asyncio.sleep(self._poll_seconds)


def _fresh(shared: tuple[int, asyncio.Future[FeedPage]], as_of: int) -> bool:
    """Whether a read serves a stream that knows the trail reached ``as_of``: one made then
    or later, or a full page (the first rows after a position never change once there)."""
    made_at, future = shared
    return made_at >= as_of or (future.done() and future.result().full)


def _failed(future: asyncio.Future[FeedPage]) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)
