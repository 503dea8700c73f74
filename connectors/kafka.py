"""Kafka connector on aiokafka: publish, consume a bounded batch, list topics.

One producer per connector, started lazily; every consume call uses its own short-lived
consumer, so batches never share positions. Reads are bounded twice: by a message count and by
a timeout. Consumer groups are always committed manually, after the batch is read (auto-commit
during a rebalance never settles on some brokers, and a batch the caller did not get must not
be committed).

Values: a ``str`` is sent as UTF-8 text, anything else as JSON. Reading, a value that parses as
JSON is returned parsed, other UTF-8 as text, anything else as base64 (``value_encoding`` says
which); so a text value that happens to be valid JSON (``"42"``) comes back parsed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import anyio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError, UnknownTopicOrPartitionError
from pydantic import AfterValidator, ConfigDict, Field, with_config

from hub.errors import ConnectorError, ConnectorTimeout, HubError, InputError, QueryError

from .base import Health, PositiveSeconds, check_host, one_line, scrub
from .sql import JsonValue

__all__ = [
    "KafkaConfig",
    "KafkaConnector",
    "KafkaCredentials",
    "KafkaMessage",
    "PublishResult",
    "TopicInfo",
    "open",
]


def _check_broker(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port")
    check_host(host)
    return value


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """The ``config`` of a kafka connector."""

    bootstrap_servers: Annotated[list[Annotated[str, AfterValidator(_check_broker)]], Field(min_length=1)]
    client_id: str = "mcp-hub"
    ssl_enabled: bool = False
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    request_timeout_seconds: PositiveSeconds = 30.0
    connect_timeout_seconds: PositiveSeconds = 10.0
    consume_timeout_seconds: PositiveSeconds = 5.0
    max_messages: Annotated[int, Field(ge=1, le=100_000)] = 1_000
    # Brokers often create a topic on first produce; a typo must not create one silently.
    allow_topic_creation: bool = False


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class KafkaCredentials:
    """SASL login, used when ``sasl_mechanism`` is set."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """Where a published message landed."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class KafkaMessage:
    """One consumed message, JSON-safe."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: JsonValue
    value_encoding: Literal["json", "text", "base64"]
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic and its partition count."""

    name: str
    partitions: int


class KafkaConnector:
    """A Kafka cluster (or a Kafka-protocol broker) reached through aiokafka."""

    kind = "kafka"

    def __init__(self, config: KafkaConfig, credentials: KafkaCredentials | None = None) -> None:
        self.config = config
        self._credentials = credentials or KafkaCredentials()
        self._producer: AIOKafkaProducer | None = None
        self._lock = anyio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"KafkaConnector({','.join(self.config.bootstrap_servers)})"

    def _error(self, exc: BaseException) -> str:
        return one_line(scrub(str(exc) or type(exc).__name__, [self._credentials.password or ""]))

    def _client_kwargs(self) -> dict[str, Any]:
        cfg = self.config
        kwargs: dict[str, Any] = {
            "bootstrap_servers": list(cfg.bootstrap_servers),
            "client_id": cfg.client_id,
            "request_timeout_ms": int(cfg.request_timeout_seconds * 1000),
        }
        if cfg.sasl_mechanism:
            kwargs["security_protocol"] = "SASL_SSL" if cfg.ssl_enabled else "SASL_PLAINTEXT"
            kwargs["sasl_mechanism"] = cfg.sasl_mechanism
            kwargs["sasl_plain_username"] = self._credentials.username
            kwargs["sasl_plain_password"] = self._credentials.password
        elif cfg.ssl_enabled:
            kwargs["security_protocol"] = "SSL"
        return kwargs

    async def open(self) -> None:
        """Start the producer (bootstraps from the cluster); ConnectorError when that fails."""
        await self._ensure_producer()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._closed:
            raise ConnectorError("connector is closed", where=repr(self))
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(acks="all", **self._client_kwargs())
                try:
                    with anyio.fail_after(self.config.connect_timeout_seconds):
                        await producer.start()
                except BaseException as exc:
                    await _quietly_stop(producer)
                    if isinstance(exc, TimeoutError | KafkaError | OSError):
                        raise ConnectorError(
                            f"cannot reach Kafka: {self._error(exc)}", where=repr(self)
                        ) from None
                    raise
                self._producer = producer
        return self._producer

    async def list_topics(self) -> list[TopicInfo]:
        """Every topic except the broker's internal ones, sorted by name."""
        with self._errors("list topics"):
            metadata = await self._metadata()
        return sorted(
            (
                TopicInfo(name, len(metadata.partitions_for_topic(name) or ()))
                for name in metadata.topics()
                if not name.startswith("__")
            ),
            key=lambda t: t.name,
        )

    async def _metadata(self) -> Any:
        producer = await self._ensure_producer()
        with anyio.fail_after(self.config.request_timeout_seconds):
            return await producer.client.fetch_all_metadata()

    async def _partitions(self, topic: str) -> list[int]:
        # The producer's cached cluster metadata answers for known topics without a round trip;
        # an unknown name is looked up afresh before it is called missing.
        producer = await self._ensure_producer()
        partitions = producer.client.cluster.partitions_for_topic(topic)
        if not partitions:
            partitions = (await self._metadata()).partitions_for_topic(topic)
        if not partitions:
            raise QueryError(f"topic {topic!r} does not exist", where=repr(self))
        return sorted(partitions)

    async def publish(
        self,
        topic: str,
        value: JsonValue,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
        partition: int | None = None,
    ) -> PublishResult:
        """Send one message and wait for the broker's acknowledgement (acks=all)."""
        _check_topic(topic)
        payload = value.encode("utf-8") if isinstance(value, str) else json.dumps(value).encode("utf-8")
        with self._errors(f"publish to {topic!r}"):
            if not self.config.allow_topic_creation:
                partitions = await self._partitions(topic)
                if partition is not None and partition not in partitions:
                    raise QueryError(f"topic {topic!r} has no partition {partition}", where=repr(self))
            producer = await self._ensure_producer()
            with anyio.fail_after(self.config.request_timeout_seconds):
                meta = await producer.send_and_wait(
                    topic,
                    payload,
                    key=None if key is None else key.encode("utf-8"),
                    partition=partition,
                    headers=[(k, v.encode("utf-8")) for k, v in (headers or {}).items()],
                )
        return PublishResult(meta.topic, meta.partition, meta.offset, meta.timestamp)

    async def consume_latest(
        self,
        topic: str,
        count: int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a read budget, not a cancel scope
    ) -> list[KafkaMessage]:
        """The newest ``count`` messages of ``topic`` across its partitions, oldest first."""
        count = self._bounded(count)
        with self._errors(f"consume from {topic!r}"):
            partitions = await self._partitions(topic)
            async with self._consumer(None) as consumer:
                tps = [TopicPartition(topic, p) for p in partitions]
                consumer.assign(tps)
                ends = await consumer.end_offsets(tps)
                begins = await consumer.beginning_offsets(tps)
                for tp in tps:
                    consumer.seek(tp, max(begins[tp], ends[tp] - count))
                messages = await self._drain(consumer, ends, count * len(tps), timeout)
        messages.sort(key=lambda m: (m.timestamp_ms, m.partition, m.offset))
        return messages[-count:]

    async def consume_from(
        self,
        topic: str,
        offset: int,
        *,
        partition: int = 0,
        max_messages: int = 100,
        timeout: float | None = None,  # noqa: ASYNC109 - a read budget, not a cancel scope
    ) -> list[KafkaMessage]:
        """Up to ``max_messages`` of one partition from ``offset`` (clamped to what the log holds)."""
        max_messages = self._bounded(max_messages)
        if offset < 0:
            raise InputError("offset must be 0 or more", where="offset")
        with self._errors(f"consume from {topic!r}"):
            if partition not in await self._partitions(topic):
                raise QueryError(f"topic {topic!r} has no partition {partition}", where=repr(self))
            async with self._consumer(None) as consumer:
                tp = TopicPartition(topic, partition)
                consumer.assign([tp])
                ends = await consumer.end_offsets([tp])
                begins = await consumer.beginning_offsets([tp])
                consumer.seek(tp, min(max(offset, begins[tp]), ends[tp]))
                return await self._drain(consumer, ends, max_messages, timeout)

    async def consume_group(
        self,
        topic: str,
        group_id: str,
        *,
        max_messages: int = 100,
        timeout: float | None = None,  # noqa: ASYNC109 - a read budget, not a cancel scope
    ) -> list[KafkaMessage]:
        """Up to ``max_messages`` for consumer group ``group_id``; their offsets are committed."""
        max_messages = self._bounded(max_messages)
        if not group_id:
            raise InputError("group_id must not be empty", where="group_id")
        with self._errors(f"consume from {topic!r}"):
            await self._partitions(topic)
            async with self._consumer(group_id) as consumer:
                consumer.subscribe([topic])
                messages = await self._drain(consumer, None, max_messages, timeout)
                offsets: dict[TopicPartition, int] = {}
                for m in messages:
                    tp = TopicPartition(m.topic, m.partition)
                    offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
                if offsets:
                    try:
                        with anyio.fail_after(self.config.request_timeout_seconds):
                            await consumer.commit(offsets)
                    except CommitFailedError:
                        # The batch is all or nothing: uncommitted, it is read again by a retry.
                        raise ConnectorError(
                            f"consume from {topic!r}: group {group_id!r} rebalanced before the batch was"
                            " committed; nothing was committed, retry",
                            where=repr(self),
                        ) from None
                return messages

    def _bounded(self, count: int) -> int:
        if count < 1:
            raise InputError("the message count must be 1 or more", where="max_messages")
        return min(count, self.config.max_messages)

    @asynccontextmanager
    async def _consumer(self, group_id: str | None) -> AsyncIterator[AIOKafkaConsumer]:
        consumer = AIOKafkaConsumer(
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.config.max_messages,
            **self._client_kwargs(),
        )
        try:
            with anyio.fail_after(self.config.connect_timeout_seconds):
                await consumer.start()
            yield consumer
        finally:
            await _quietly_stop(consumer)

    async def _drain(
        self,
        consumer: AIOKafkaConsumer,
        ends: Mapping[TopicPartition, int] | None,
        limit: int,
        budget: float | None,
    ) -> list[KafkaMessage]:
        """Read until ``limit`` messages, every partition reaches its end offset, or the time is up.

        Without ``ends`` (a group member), the end offsets are taken when partitions get assigned,
        so a caught-up group returns at once instead of waiting out its budget.
        """
        follow = ends is None
        seconds = min(budget or self.config.consume_timeout_seconds, self.config.request_timeout_seconds)
        deadline = time.monotonic() + seconds
        out: list[KafkaMessage] = []
        while len(out) < limit:
            if follow and consumer.assignment() and (ends is None or set(ends) != consumer.assignment()):
                # (Re)assigned by the group: take the end offsets of what this member reads now.
                ends = await consumer.end_offsets(list(consumer.assignment()))
            if ends is not None and await _caught_up(consumer, ends):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Short polls while waiting for an assignment, so the end offsets are taken early.
            wait = remaining if ends is not None else min(remaining, 0.1)
            batches = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=limit - len(out))
            for records in batches.values():
                out.extend(_message(r) for r in records)
        return out[:limit]

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate aiokafka's errors, once, into the hub's tree."""
        try:
            yield
        except HubError:
            raise
        except (TimeoutError, KafkaTimeoutError):
            raise ConnectorTimeout(f"{what}: no answer in time", where=repr(self)) from None
        except UnknownTopicOrPartitionError as exc:
            raise QueryError(f"{what}: {self._error(exc)}", where=repr(self)) from None
        except (KafkaError, OSError) as exc:
            raise ConnectorError(f"{what}: {self._error(exc)}", where=repr(self)) from None

    async def health_check(self, timeout: float) -> Health:  # noqa: ASYNC109 - the timeout is reported in Health
        """A metadata request to the cluster within ``timeout``."""
        started = time.perf_counter()
        try:
            with anyio.fail_after(timeout):
                metadata = await self._metadata()
                brokers = len(metadata.brokers())
        except TimeoutError:
            return Health(False, (time.perf_counter() - started) * 1000, f"no answer within {timeout:g} s")
        except HubError as exc:
            return Health(False, (time.perf_counter() - started) * 1000, one_line(exc.message))
        except (KafkaError, OSError) as exc:
            return Health(False, (time.perf_counter() - started) * 1000, self._error(exc))
        latency = (time.perf_counter() - started) * 1000
        if not brokers:
            return Health(False, latency, "no broker in the cluster metadata")
        return Health(True, latency, f"{brokers} broker(s) in {latency:.1f} ms")

    async def aclose(self) -> None:
        """Flush and stop the producer."""
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            await _quietly_stop(producer)


async def _caught_up(consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


def _check_topic(topic: str) -> None:
    if not topic or len(topic) > 249 or not all(ch.isalnum() or ch in "._-" for ch in topic):
        raise InputError(
            "topic names are 1-249 characters of letters, digits, '.', '_' and '-'", where="topic"
        )


def _message(record: Any) -> KafkaMessage:
    value, encoding = _decode(record.value)
    key = None if record.key is None else record.key.decode("utf-8", "replace")
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or ())}
    return KafkaMessage(
        record.topic, record.partition, record.offset, record.timestamp, key, value, encoding, headers
    )


def _decode(raw: bytes | None) -> tuple[JsonValue, Literal["json", "text", "base64"]]:
    if raw is None:
        return None, "json"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
    try:
        return json.loads(text), "json"
    except ValueError:
        return text, "text"


async def _quietly_stop(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    # Stopping talks to the broker (LeaveGroup, flush); a dead broker must not hang aclose().
    # Shielded: it also runs while a timed-out or cancelled call unwinds, and must finish then.
    with anyio.move_on_after(5, shield=True):
        try:
            await client.stop()
        except (KafkaError, OSError):
            return


@asynccontextmanager
async def open(
    config: KafkaConfig, credentials: KafkaCredentials | None = None
) -> AsyncIterator[KafkaConnector]:
    """An opened Kafka connector, closed on exit."""
    connector = KafkaConnector(config, credentials)
    try:
        await connector.open()
        yield connector
    finally:
        await connector.aclose()
