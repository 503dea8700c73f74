"""Breaker state shared by every hub process serving one database, through Redis, without blocking.

pybreaker's own ``CircuitRedisStorage`` makes two synchronous Redis round trips per call (~0.3 ms
each here, with the event loop stopped meanwhile). ``SharedStorage`` instead answers pybreaker from
local memory, like ``BreakerStorage``, and travels through ``redis.asyncio`` in a background task:

- a local change (opened, closed, one more failure, counter reset) is queued and sent as one
  pipeline: the hash ``hub:breaker:<server id>`` (what a process starting later loads) and a
  message on the channel of the same name;
- a message from another process is applied to local memory and pybreaker is made to notice it at
  once, so this process's listeners mirror it (as ``remote``: the process that caused it audits it).

Half-open is not shared: each process lets its own trial through, and only the trial's outcome
(closed, or open again with a new opening time) is broadcast. If Redis is unreachable the breaker
works locally and the task reconnects with backoff; state is reloaded from the hash on reconnect.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from typing import Any

import anyio
import orjson
import pybreaker
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from hub.resilience.breaker import BreakerStorage
from hub.resilience.clock import Clock, system_clock

__all__ = ["SharedStorage", "redis_key"]

log = logging.getLogger(__name__)


def redis_key(server_id: uuid.UUID) -> str:
    """The hash and channel of one server's breaker (server ids are unique within a database)."""
    return f"hub:breaker:{server_id}"


class SharedStorage(BreakerStorage):
    """A breaker's state in local memory, kept in step with other processes through Redis."""

    def __init__(self, name: str, key: str, redis_url: str, clock: Clock = system_clock) -> None:
        super().__init__(name, clock)
        self.key = key
        self._url = redis_url
        self._origin = uuid.uuid4().hex
        self._outbox: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._wake = anyio.Event()
        self.connected = anyio.Event()  # set once subscribed and loaded (tests and start-up wait on it)

    # -- pybreaker's writes, queued for Redis ---------------------------------------------------

    @property
    def state(self) -> str:
        """The pybreaker state name."""
        return self._state

    @state.setter
    def state(self, state: str) -> None:
        self._state = state
        if state != pybreaker.STATE_HALF_OPEN:
            self._send({"op": "state", "state": state, "opened_at": self.opened_clock})

    def increment_counter(self) -> None:
        """One more consecutive failure, here and everywhere."""
        super().increment_counter()
        self._send({"op": "inc"})

    def reset_counter(self) -> None:
        """No consecutive failures, here and everywhere."""
        if self._counter:
            super().reset_counter()
            self._send({"op": "reset"})

    def _send(self, message: dict[str, Any]) -> None:
        if self.remote:
            return  # applying someone else's change: theirs to broadcast
        self._outbox.append(message)
        self._wake.set()

    # -- the background task -------------------------------------------------------------------

    async def run(self) -> None:
        """Keep in step with Redis until cancelled, reconnecting with backoff."""
        delay = 0.1
        while True:
            client = aioredis.Redis.from_url(self._url)
            try:
                async with client.pubsub() as pubsub, anyio.create_task_group() as tg:
                    await pubsub.subscribe(self.key)
                    await self._load(client)
                    self.connected.set()
                    delay = 0.1
                    tg.start_soon(self._send_loop, client)
                    await self._receive_loop(pubsub)
            except (RedisError, OSError) as exc:
                log.warning("breaker state of %s: Redis unavailable (%s); working locally", self.name, exc)
            finally:
                with anyio.CancelScope(shield=True):
                    await client.aclose()
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _load(self, client: aioredis.Redis) -> None:
        found = await client.hgetall(self.key)
        if not found:
            return
        data = {_text(k): _text(v) for k, v in found.items()}
        opened = data.get("opened_at")
        self._apply(
            {
                "op": "state",
                "state": data.get("state", pybreaker.STATE_CLOSED),
                "opened_at": float(opened) if opened else None,
                "count": int(data.get("fail_counter", "0")),
            }
        )

    async def _send_loop(self, client: aioredis.Redis) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            while self._outbox:
                message = self._outbox[0]
                pipe = client.pipeline(transaction=True)
                op = message["op"]
                if op == "state":
                    pipe.hset(self.key, "state", message["state"])
                    if message["opened_at"] is not None:
                        pipe.hset(self.key, "opened_at", repr(message["opened_at"]))
                    if message["state"] == pybreaker.STATE_CLOSED:
                        pipe.hset(self.key, "fail_counter", 0)
                elif op == "inc":
                    pipe.hincrby(self.key, "fail_counter", 1)
                else:
                    pipe.hset(self.key, "fail_counter", 0)
                pipe.publish(self.key, orjson.dumps({**message, "origin": self._origin}))
                await pipe.execute()
                self._outbox.popleft()

    async def _receive_loop(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            if item.get("type") != "message":
                continue
            message = orjson.loads(item["data"])
            if message.get("origin") != self._origin:
                self._apply(message)

    def _apply(self, message: dict[str, Any]) -> None:
        self.remote = True
        try:
            op = message["op"]
            if op == "state":
                self._state = message["state"]
                if message.get("opened_at") is not None:
                    self.opened_clock = float(message["opened_at"])
                if "count" in message:
                    self._counter = int(message["count"])
                elif self._state == pybreaker.STATE_CLOSED:
                    self._counter = 0
            elif op == "inc":
                self._counter += 1
            elif op == "reset":
                self._counter = 0
            if self.notice is not None:
                self.notice()
        finally:
            self.remote = False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
