"""The Kafka connector against a Kafka-protocol broker (noida-db by default, a real cluster if set)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from connectors import KafkaConnector, build_connector, open_connector
from hub.errors import ConnectorError, InputError, QueryError
from tests.connectors.conftest import start_broker
from tests.connectors.leaks import assert_secret_absent
from tests.connectors.services import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.kafka]


async def create_topic(bootstrap: str, partitions: int = 3) -> str:
    name = f"hub-test-{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> AsyncIterator[KafkaConnector]:
    async with open_connector("kafka", {"bootstrap_servers": [kafka_bootstrap]}, {}) as connector:
        assert isinstance(connector, KafkaConnector)
        yield connector


async def test_published_messages_come_back_newest_last_with_keys_and_headers(
    kafka: KafkaConnector, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap)
    for i in range(10):
        await kafka.publish(topic, {"i": i, "line": "L1"}, key=f"k{i}", headers={"source": "test"})
    text = await kafka.publish(topic, "plain text, not json", key="text")
    latest = await kafka.consume_latest(topic, 4, timeout=5)
    assert [m.value for m in latest[:3]] == [
        {"i": 7, "line": "L1"},
        {"i": 8, "line": "L1"},
        {"i": 9, "line": "L1"},
    ]
    assert (latest[3].value, latest[3].value_encoding, latest[3].key) == (
        "plain text, not json",
        "text",
        "text",
    )
    assert (latest[3].offset, latest[3].partition) == (text.offset, text.partition)
    assert latest[0].headers == {"source": "test"}
    assert latest[0].key == "k7"


async def test_reading_from_an_offset_returns_that_partition_in_order(
    kafka: KafkaConnector, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=1)
    for i in range(6):
        await kafka.publish(topic, i)
    batch = await kafka.consume_from(topic, 2, partition=0, max_messages=3, timeout=5)
    tail = await kafka.consume_from(topic, 4, max_messages=100, timeout=5)
    assert [(m.offset, m.value) for m in batch] == [(2, 2), (3, 3), (4, 4)]
    assert [m.value for m in tail] == [4, 5]


async def test_a_consumer_group_resumes_where_its_last_batch_was_committed(
    kafka: KafkaConnector, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap)
    for i in range(7):
        await kafka.publish(topic, i, key=str(i))
    group = f"g-{secrets.token_hex(3)}"
    first = await kafka.consume_group(topic, group, max_messages=4, timeout=10)
    second = await kafka.consume_group(topic, group, max_messages=10, timeout=5)
    third = await kafka.consume_group(topic, group, max_messages=10, timeout=1)
    assert len(first) == 4
    assert sorted(m.value for m in first + second) == list(range(7))  # type: ignore[type-var]
    assert third == []


async def test_the_batch_size_is_capped_by_the_connector(kafka_bootstrap: str) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=1)
    config = {"bootstrap_servers": [kafka_bootstrap], "max_messages": 20}
    async with open_connector("kafka", config, {}) as kafka:
        assert isinstance(kafka, KafkaConnector)
        for i in range(30):
            await kafka.publish(topic, {"i": i})
        batch = await kafka.consume_from(topic, 0, max_messages=1000, timeout=5)
        latest = await kafka.consume_latest(topic, 1000, timeout=5)
    assert len(batch) == 20
    assert [m.value for m in latest] == [{"i": i} for i in range(10, 30)]


async def test_an_unknown_topic_is_a_query_error_and_is_not_created(kafka: KafkaConnector) -> None:
    missing = f"no-such-topic-{secrets.token_hex(3)}"
    with pytest.raises(QueryError):
        await kafka.publish(missing, {"x": 1})
    with pytest.raises(QueryError):
        await kafka.consume_latest(missing, 5)
    with pytest.raises(QueryError):
        await kafka.consume_group(missing, "g", max_messages=1)
    assert missing not in [t.name for t in await kafka.list_topics()]
    assert (await kafka.health_check(timeout=5)).ok


async def test_list_topics_shows_user_topics_with_partition_counts(
    kafka: KafkaConnector, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=2)
    topics = {t.name: t.partitions for t in await kafka.list_topics()}
    assert topics[topic] == 2
    assert not [name for name in topics if name.startswith("__")]


@pytest.mark.parametrize("topic", ["", "a b", "x" * 250, "../etc"])
async def test_an_invalid_topic_name_is_an_input_error(kafka: KafkaConnector, topic: str) -> None:
    with pytest.raises(InputError):
        await kafka.publish(topic, 1)


async def test_a_missing_partition_or_negative_offset_is_refused(
    kafka: KafkaConnector, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=1)
    with pytest.raises(QueryError):
        await kafka.consume_from(topic, 0, partition=5)
    with pytest.raises(InputError):
        await kafka.consume_from(topic, -1)
    with pytest.raises(QueryError):
        await kafka.publish(topic, 1, partition=3)


async def test_an_unreachable_broker_is_a_connector_error_without_secrets() -> None:
    secret = "sasl-Pw-3d9e"
    config = {"bootstrap_servers": [f"127.0.0.1:{free_port()}"], "connect_timeout_seconds": 2}
    with anyio.fail_after(5):
        with pytest.raises(ConnectorError) as info:
            async with open_connector("kafka", config, {"username": "u", "password": secret}):
                pass
        kafka = build_connector("kafka", config, {"username": "u", "password": secret})
        health = await kafka.health_check(timeout=2)
        await kafka.aclose()
    assert not health.ok
    assert_secret_absent(secret, info.value, health, kafka)


async def test_health_follows_a_broker_that_stops_and_starts_again(tmp_path: Path) -> None:
    broker = await anyio.to_thread.run_sync(start_broker, tmp_path / "broker")
    kafka = build_connector(
        "kafka", {"bootstrap_servers": [broker.bootstrap], "request_timeout_seconds": 2}, {}
    )
    try:
        assert (await kafka.health_check(timeout=5)).ok
        await anyio.to_thread.run_sync(broker.stop)
        with anyio.fail_after(10):
            down = await kafka.health_check(timeout=2)
        assert not down.ok
        await anyio.to_thread.run_sync(broker.start)
        # The client reconnects on its own; poll until it has, within a bound.
        with anyio.fail_after(20):
            while True:
                health = await kafka.health_check(timeout=2)
                if health.ok:
                    break
                await anyio.sleep(0.1)
    finally:
        await kafka.aclose()
        broker.stop()


async def test_two_members_of_one_group_share_a_topic_with_manual_commits(
    kafka: KafkaConnector, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap)
    for i in range(12):
        await kafka.publish(topic, i, key=f"k{i}")
    group = f"pair-{secrets.token_hex(3)}"
    batches: list[list[int]] = []
    refused: list[ConnectorError] = []

    async def member() -> None:
        for _ in range(3):
            try:
                messages = await kafka.consume_group(topic, group, max_messages=12, timeout=4)
            except ConnectorError as exc:
                refused.append(exc)  # a rebalance during the commit: nothing was committed, read again
                continue
            batches.append([m.value for m in messages])  # type: ignore[misc]
            return

    # Generous bound: on noida-db a commit racing a rebalance fails (ILLEGAL_GENERATION) and the
    # member rejoins, so a round can take its whole budget plus a LeaveGroup.
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(member)
            tg.start_soon(member)
    # At least once: a partition may change hands before its batch was committed.
    assert all(exc.retriable for exc in refused)
    assert set().union(*batches) == set(range(12))
    assert await kafka.consume_group(topic, group, max_messages=12, timeout=2) == []
