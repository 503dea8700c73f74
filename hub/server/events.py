"""Recent SSE events of the streamable HTTP face, so a client cut off mid-stream can resume (SEP-1699).

With an event store the SDK opens every POST's SSE stream with a priming event (an id and no data) and
tells the client how long to wait before reconnecting; a client whose stream broke reconnects with
``Last-Event-ID`` and is sent what it missed. The hub serves many tenants from one process, so the
store is built for that: event ids are random (one client cannot name, and so replay, another's
events), and what is kept is bounded in bytes and in age: resumption is for a reconnect within seconds,
not an archive.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import orjson
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage

__all__ = ["RecentEvents"]

# Events older than this are not replayed: a client resumes within its retry interval, not minutes later.
DEFAULT_MAX_AGE_SECONDS = 60.0
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# The JSON-RPC envelope around a result, give or take the id's length.
_ENVELOPE_BYTES = 40
# Members this large have their size remembered, for this many of them.
_REMEMBERED_MIN_BYTES = 64 * 1024
_REMEMBERED_MAX = 16


@dataclass(slots=True)
class _Event:
    stream_id: StreamId
    message: JSONRPCMessage | None
    size: int
    stored_at: float


class RecentEvents(EventStore):
    """An in-memory ``EventStore`` keeping the newest events up to ``max_bytes`` and ``max_age`` seconds."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes <= 0 or max_age <= 0:
            raise ValueError("the event store needs a positive max_bytes and max_age")
        self._max_bytes = max_bytes
        self._max_age = max_age
        self._clock = clock
        self._events: OrderedDict[EventId, _Event] = OrderedDict()  # oldest first
        self._bytes = 0
        self._sizes: dict[int, tuple[object, int]] = {}

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        """Keep one event (None is a stream's priming event) and return its new, unguessable id."""
        size = self._size(message) if message is not None else 0
        event_id = secrets.token_urlsafe(16)
        now = self._clock()
        self._expire(now)
        if size > self._max_bytes:
            # Too large to keep, yet the stream needs an id for it. A resume from an earlier event of
            # this stream would have to skip it, so those go too: such a resume finds nothing, cleanly.
            for kept_id, kept in list(self._events.items()):
                if kept.stream_id == stream_id:
                    del self._events[kept_id]
                    self._bytes -= kept.size
            return event_id
        self._events[event_id] = _Event(stream_id, message, size, now)
        self._bytes += size
        # Oldest first, so whatever is kept of a stream is always its newest events, without gaps.
        while self._bytes > self._max_bytes:
            self._drop_oldest()
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        """Send the events of ``last_event_id``'s stream that came after it; None if it is not known (any more)."""
        self._expire(self._clock())
        start = self._events.get(last_event_id)
        if start is None:
            return None
        later = False
        for event_id, event in list(self._events.items()):
            if event_id == last_event_id:
                later = True
            elif later and event.stream_id == start.stream_id and event.message is not None:
                await send_callback(EventMessage(event.message, event_id))
        return start.stream_id

    @property
    def kept(self) -> int:
        """How many events are kept now.

        Not ``__len__``: the SDK tests the store for truth (``if not event_store``), and an empty store
        would then read as none at all.
        """
        return len(self._events)

    @property
    def kept_bytes(self) -> int:
        """What the kept events are accounted to cost, in bytes of JSON."""
        return self._bytes

    def _size(self, message: JSONRPCMessage) -> int:
        """About what the event costs to keep: its serialized size.

        A result's large members (a tools/list of thousands of tools) are most often the very objects
        of an earlier answer, served again from the list cache; their size is remembered by identity
        rather than serialized anew for every answer (it was a quarter of a large listing's cost).
        """
        result = getattr(message, "result", None)
        if isinstance(result, dict):
            with suppress(TypeError):  # not plain JSON after all: measured the long way below
                return _ENVELOPE_BYTES + sum(len(str(k)) + self._member_size(v) for k, v in result.items())
        return len(message.model_dump_json(by_alias=True, exclude_none=True))

    def _member_size(self, value: object) -> int:
        if not isinstance(value, list | dict):
            return len(orjson.dumps(value))
        known = self._sizes.get(id(value))
        # The entry holds the object itself, so its id cannot be reused by another while remembered.
        if known is not None and known[0] is value:
            return known[1]
        size = len(orjson.dumps(value))
        if size >= _REMEMBERED_MIN_BYTES:
            if len(self._sizes) >= _REMEMBERED_MAX:
                self._sizes.pop(next(iter(self._sizes)))
            self._sizes[id(value)] = (value, size)
        return size

    def _expire(self, now: float) -> None:
        while self._events:
            oldest = next(iter(self._events.values()))
            if now - oldest.stored_at <= self._max_age:
                return
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, event = self._events.popitem(last=False)
        self._bytes -= event.size
