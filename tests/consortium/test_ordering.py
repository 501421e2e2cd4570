"""accord.consortium.ordering against a real three-server JetStream cluster over mutual TLS: order,
deduplication, reads that never skip, trimming, and a stream leader killed with SIGKILL.

The failover test runs last in this module: it kills and restarts one server of the shared cluster.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import nats
import pytest

from accord.consortium.engine import Engine
from accord.consortium.ordering import OrderingClient
from accord.errors import InvalidRequest, OrderingUnavailable
from tests.consortium.test_engine import OrgPKI, client_url, make_consortium_pki, make_engines

ORGS = ["supplier", "buyer", "carrier"]
T = TypeVar("T")


@dataclass
class Consortium:
    pki: dict[str, OrgPKI]
    engines: dict[str, Engine]

    def urls(self, org: str) -> list[str]:
        """Every server's client URL, the organization's own first (as a node would list them)."""
        own = client_url(self.engines[org])
        return [own] + [client_url(e) for name, e in self.engines.items() if name != org]

    async def client(self, org: str) -> OrderingClient:
        return await OrderingClient.connect(
            self.urls(org), tls=self.pki[org].client_context(), name=f"{org}-node"
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    base = tmp_path_factory.mktemp("consortium")
    pki = make_consortium_pki(base / "pki", ORGS)
    engines = make_engines(base, pki, ORGS)
    try:
        for engine in engines:
            engine.start()
        # Streams need the cluster's meta leader, which Engine.start does not wait for.
        wait_until(lambda: all(e.healthy() for e in engines), 30, "a JetStream meta leader")
        yield Consortium(pki, {e.config.server_name: e for e in engines})
    finally:
        for engine in engines:
            engine.stop()


async def retrying(action: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    """``action()`` retried on OrderingUnavailable (what a node does) until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await action()
        except OrderingUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def read_from(
    client: OrderingClient, stream: str, subject: str, first: int, count: int
) -> list[tuple[int, bytes]]:
    """Read on from ``first`` (each read at the sequence after the last) until ``count`` arrived."""
    out: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 30
    following = first
    while len(out) < count:
        assert time.monotonic() < deadline, f"read {len(out)} of {count}"
        batch = await retrying(partial(client.read, stream, subject, following, timeout=0.5))
        out += batch
        if batch:
            following = batch[-1][0] + 1
    return out


def payload(i: int, size: int = 1024) -> bytes:
    return (i.to_bytes(4, "big") * (size // 4 + 1))[:size]


def test_publish_and_read_in_order_from_another_server(consortium: Consortium) -> None:
    async def scenario() -> None:
        writer, reader = await consortium.client("supplier"), await consortium.client("buyer")
        try:
            assert writer.connected_url != reader.connected_url
            await retrying(lambda: writer.ensure_stream("ORDERS", "orders.write", 3))
            await reader.ensure_stream("ORDERS", "orders.write", 3)  # idempotent

            started = time.monotonic()
            seqs = [
                await writer.publish("orders.write", payload(i), msg_id=f"w{i}", stream="ORDERS")
                for i in range(200)
            ]
            one_by_one = 200 / (time.monotonic() - started)
            assert seqs == list(range(1, 201))

            started = time.monotonic()
            got = await read_from(reader, "ORDERS", "orders.write", 1, 200)
            reading = 200 / (time.monotonic() - started)
            assert got == [(seq, payload(seq - 1)) for seq in range(1, 201)]

            # The same message id again: the first sequence, nothing stored.
            assert await writer.publish("orders.write", b"x", msg_id="w7", stream="ORDERS") == 8
            info = await reader.stream_info("ORDERS")
            assert (info["messages"], info["first_seq"], info["last_seq"]) == (200, 1, 200)
            assert info["replicas"] == 3 and info["leader"] in ORGS
            assert sorted(p["name"] for p in info["peers"]) == sorted(ORGS)

            # Concurrent publishers get distinct, gapless sequences, read back in that order.
            started = time.monotonic()
            batches = [
                await asyncio.gather(
                    *(
                        writer.publish("orders.write", payload(j), msg_id=f"c{j}", stream="ORDERS")
                        for j in range(k, k + 100)
                    )
                )
                for k in range(200, 1200, 100)
            ]
            concurrently = 1000 / (time.monotonic() - started)
            by_seq = {
                seq: j
                for k, batch in enumerate(batches)
                for j, seq in enumerate(batch, 200 + 100 * k)
            }
            assert sorted(by_seq) == list(range(201, 1201))
            got = await read_from(reader, "ORDERS", "orders.write", 201, 1000)
            assert got == [(seq, payload(by_seq[seq])) for seq in range(201, 1201)]

            # Past the end: empty, after the timeout.
            started = time.monotonic()
            assert await reader.read("ORDERS", "orders.write", 1201, timeout=0.3) == []
            assert time.monotonic() - started >= 0.25
            print(
                f"\n1 KiB messages, R3: publish {one_by_one:.0f}/s one by one, "
                f"{concurrently:.0f}/s 100 in flight; read {reading:.0f}/s"
            )
        finally:
            await writer.close()
            await reader.close()

    asyncio.run(scenario())


def test_a_waiting_read_wakes_up_for_a_new_message(consortium: Consortium) -> None:
    async def scenario() -> None:
        writer, reader = await consortium.client("carrier"), await consortium.client("buyer")
        try:
            await retrying(lambda: writer.ensure_stream("WAKE", "wake.write", 3))
            assert await reader.read("WAKE", "wake.write", 1, timeout=0.2) == []

            async def later() -> int:
                await asyncio.sleep(0.3)
                return await writer.publish("wake.write", b"hello", msg_id="h", stream="WAKE")

            started = time.monotonic()
            got, seq = await asyncio.gather(
                reader.read("WAKE", "wake.write", 1, timeout=10), later()
            )
            assert got == [(seq, b"hello")] and seq == 1
            assert time.monotonic() - started < 5  # woken, not timed out
        finally:
            await writer.close()
            await reader.close()

    asyncio.run(scenario())


def test_reads_survive_their_consumer_vanishing(consortium: Consortium) -> None:
    async def scenario() -> None:
        client = await consortium.client("buyer")
        admin = await nats.connect(
            consortium.urls("supplier"), tls=consortium.pki["supplier"].client_context()
        )
        try:
            await retrying(lambda: client.ensure_stream("VANISH", "vanish.write", 3))
            for i in range(30):
                await client.publish(
                    "vanish.write", payload(i, 64), msg_id=f"v{i}", stream="VANISH"
                )
            first = await client.read("VANISH", "vanish.write", 1, max_msgs=10)
            assert [seq for seq, _ in first] == list(range(1, 11))

            # Someone (an operator, JetStream after a server loss) removes the read consumer.
            jsm = admin.jetstream()
            consumers = await jsm.consumers_info("VANISH")
            assert len(consumers) == 1
            await jsm.delete_consumer("VANISH", consumers[0].name)

            rest = await read_from(client, "VANISH", "vanish.write", 11, 20)
            assert rest == [(seq, payload(seq - 1, 64)) for seq in range(11, 31)]
            # Starting over from an earlier sequence is allowed too.
            again = await client.read("VANISH", "vanish.write", 5, max_msgs=3)
            assert [seq for seq, _ in again] == [5, 6, 7]

            async def consumers_become(count: int) -> None:
                deadline = time.monotonic() + 5
                while len(await jsm.consumers_info("VANISH")) != count:
                    assert time.monotonic() < deadline, "consumers left behind"
                    await asyncio.sleep(0.05)

            await consumers_become(1)  # the replaced ones are deleted
            await client.close()  # and so is the last one
            await consumers_become(0)
        finally:
            await admin.close()
            await client.close()

    asyncio.run(scenario())


def test_purge_below_trims_the_stream(consortium: Consortium) -> None:
    async def scenario() -> None:
        client = await consortium.client("carrier")
        try:
            await retrying(lambda: client.ensure_stream("TRIM", "trim.write", 3))
            for i in range(20):
                await client.publish("trim.write", payload(i, 16), msg_id=f"t{i}", stream="TRIM")
            await client.purge_below("TRIM", 1)  # nothing below 1 (and not "purge everything")
            assert (await client.stream_info("TRIM"))["messages"] == 20
            await client.purge_below("TRIM", 11)
            info = await client.stream_info("TRIM")
            assert (info["first_seq"], info["last_seq"], info["messages"]) == (11, 20, 10)
            got = await read_from(client, "TRIM", "trim.write", 1, 10)
            assert [seq for seq, _ in got] == list(range(11, 21))
        finally:
            await client.close()

    asyncio.run(scenario())


def test_ensure_stream_updates_and_limits(consortium: Consortium) -> None:
    async def scenario() -> None:
        client = await consortium.client("supplier")
        try:
            await retrying(lambda: client.ensure_stream("GROW", "grow.write", 1))
            assert (await client.stream_info("GROW"))["replicas"] == 1
            await retrying(lambda: client.ensure_stream("GROW", "grow.write", 3))
            assert (await client.stream_info("GROW"))["replicas"] == 3

            await retrying(
                lambda: client.ensure_stream("SMALL", "small.write", 3, max_msg_size=1024)
            )
            assert await client.publish("small.write", b"x" * 512, msg_id="ok", stream="SMALL") == 1
            with pytest.raises(InvalidRequest, match="refused"):
                await client.publish("small.write", b"x" * 2048, msg_id="big", stream="SMALL")
            with pytest.raises(InvalidRequest):
                await client.publish("small.write", b"x", msg_id="", stream="SMALL")
            with pytest.raises(InvalidRequest):
                await client.read("SMALL", "small.>", 1)
        finally:
            await client.close()

    asyncio.run(scenario())


def test_killing_the_stream_leader_loses_nothing(consortium: Consortium, tmp_path: Path) -> None:
    async def scenario() -> None:
        setup = await consortium.client("supplier")
        try:
            await retrying(lambda: setup.ensure_stream("FAILOVER", "failover.write", 3))
            leader = (await setup.stream_info("FAILOVER"))["leader"]
        finally:
            await setup.close()
        assert leader in ORGS
        victim = consortium.engines[leader]
        # The writer sits on the leader's server (it must reconnect elsewhere); the reader on
        # another one.
        writer = await consortium.client(leader)
        reader_org = next(org for org in ORGS if org != leader)
        reader = await consortium.client(reader_org)
        acked: dict[int, int] = {}  # stream sequence -> message number
        read: list[tuple[int, bytes]] = []
        done = asyncio.Event()

        async def keep_reading() -> None:
            following = 1
            while not (done.is_set() and len(read) >= len(acked)):
                try:
                    batch = await reader.read("FAILOVER", "failover.write", following, timeout=0.3)
                except OrderingUnavailable:
                    await asyncio.sleep(0.1)
                    continue
                read.extend(batch)
                if batch:
                    following = batch[-1][0] + 1

        async def write(i: int) -> float:
            started = time.monotonic()
            seq = await retrying(
                lambda: writer.publish(
                    "failover.write", payload(i, 100), msg_id=f"f{i}", stream="FAILOVER"
                ),
                timeout=30,
            )
            assert seq not in acked
            acked[seq] = i
            return time.monotonic() - started

        reading = asyncio.create_task(keep_reading())
        try:
            for i in range(20):
                await write(i)
            pid = victim.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            pauses = [await write(i) for i in range(20, 60)]
            print(
                f"\nfailover: longest publish pause {max(pauses):.1f}s, "
                f"all 40 acknowledged {time.monotonic() - killed:.1f}s after SIGKILL"
            )
            assert max(pauses) < 15
            done.set()
            await asyncio.wait_for(reading, 30)
        finally:
            done.set()
            reading.cancel()
            await writer.close()
            await reader.close()

        # Every acknowledged message, each exactly once, in sequence order.
        assert sorted(acked) == list(range(1, 61))
        assert read == [(seq, payload(acked[seq], 100)) for seq in sorted(acked)]

        victim.stop()  # reap the killed process
        victim.start()
        rejoined = await consortium.client(leader)
        try:

            async def caught_up() -> bool:
                info = await rejoined.stream_info("FAILOVER")
                peers = {p["name"]: p for p in info["peers"]}
                return info["messages"] == 60 and all(
                    peers.get(org, {}).get("current") and not peers[org]["offline"] for org in ORGS
                )

            deadline = time.monotonic() + 30
            while not await retrying(caught_up):
                assert time.monotonic() < deadline, "restarted server did not catch up"
                await asyncio.sleep(0.1)
            assert rejoined.connected_url == client_url(victim)
            again = await read_from(rejoined, "FAILOVER", "failover.write", 1, 60)
            assert again == read
        finally:
            await rejoined.close()
        wait_until(lambda: all(e.healthy() for e in consortium.engines.values()), 30, "health")

    asyncio.run(scenario())
