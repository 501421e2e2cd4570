"""Crashes, pauses and lies: each with real processes, a write load, and the same end state."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from accord.consortium.demo import LocalConsortium
from accord.core.policy import Policy
from accord.errors import AccordError, QuorumNotMet

from .conftest import client


class Load:
    """Writers appending through the given organizations; every acknowledged write is kept."""

    def __init__(self, network: LocalConsortium, names: list[str]) -> None:
        self.network = network
        self.names = names
        self.acked: dict[str, str] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in names]

    def _run(self, name: str) -> None:
        org = self.network.orgs[name]
        i = 0
        while not self.stop.is_set():
            i += 1
            contents = f"{name} write {i}"
            try:
                with client(org) as c:
                    txid = c.append(contents)
            except AccordError:
                time.sleep(0.1)  # the node is down or cannot order now: not acknowledged
                continue
            with self.lock:
                self.acked[txid] = contents

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


@contextmanager
def load(network: LocalConsortium, names: list[str]) -> Iterator[Load]:
    with Load(network, names) as running:
        yield running


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def converged(
    network: LocalConsortium, acked: dict[str, str], policy: Policy | None = None
) -> None:
    """Every node holds every acknowledged write, and all end final at one size and root."""
    if policy is None:
        assert network.policy is not None
        policy = Policy.from_text(network.policy.read_text())
    last = max(int(t.split(".")[1]) for t in acked)

    def final_everywhere() -> bool:
        for org in network.orgs.values():
            with client(org) as c:
                note = c.checkpoint()
            try:
                size = policy.verify(note).checkpoint.size
            except QuorumNotMet:  # still the empty tree it signed alone at its start
                return False
            if size < last:
                return False
        return True

    wait_until(final_everywhere, 120, "every node to make the last acknowledged write final")

    def same_tree() -> bool:
        heads = set()
        for org in network.orgs.values():
            with client(org) as c:
                cp = policy.verify(c.checkpoint()).checkpoint
                heads.add((cp.size, cp.root_hash))
        return len(heads) == 1

    wait_until(same_tree, 60, "all nodes to agree on one final checkpoint")
    for org in network.orgs.values():
        with client(org) as c:
            for txid, contents in acked.items():
                assert c.entry(txid)["entry"]["contents"] == contents, (org.name, txid)


def test_sigkill_one_organization_under_load(fresh_network: LocalConsortium) -> None:
    network = fresh_network
    with load(network, ["supplier", "manufacturer", "retailer"]) as running:
        wait_until(lambda: running.count() >= 30, 30, "writes before the crash")
        network.kill("retailer")
        before = running.count()
        wait_until(lambda: running.count() >= before + 30, 60, "writes after the crash")
        network.start("retailer")
        network.wait_ready(["retailer"])
        after = running.count()
        wait_until(lambda: running.count() >= after + 10, 60, "writes after the restart")
    converged(network, running.acked)


def test_sigkill_every_organization_at_once(fresh_network: LocalConsortium) -> None:
    network = fresh_network
    with load(network, ["supplier", "manufacturer"]) as running:
        wait_until(lambda: running.count() >= 30, 30, "writes before the crash")
        for name in network.orgs:
            network.kill(name)
        acked_at_crash = dict(running.acked)
        network.start_all()
        network.wait_ready()
        wait_until(lambda: running.count() >= len(acked_at_crash) + 10, 90, "writes after")
    assert set(acked_at_crash) <= set(running.acked)
    converged(network, running.acked)


def test_a_paused_organization_cannot_stop_or_fork_the_majority(
    fresh_network: LocalConsortium,
) -> None:
    network = fresh_network
    assert network.policy is not None
    policy = Policy.from_text(network.policy.read_text())
    retailer = network.orgs["retailer"]
    with client(retailer) as c:
        c.append("before the pause")
    network.pause("retailer")
    try:
        with load(network, ["supplier", "manufacturer"]) as running:
            wait_until(lambda: running.count() >= 40, 120, "the majority to go on writing")
        last = max(int(t.split(".")[1]) for t in running.acked)

        def final_without_retailer() -> bool:
            with client(network.orgs["supplier"]) as c:
                note = c.checkpoint()
            try:
                return policy.verify(note).checkpoint.size >= last
            except QuorumNotMet:  # nothing final yet: still the empty tree signed alone
                return False

        wait_until(final_without_retailer, 60, "the majority to make its writes final alone")
    finally:
        network.resume("retailer")
    converged(network, running.acked)


def test_a_node_with_edited_storage_refuses_to_go_on(fresh_network: LocalConsortium) -> None:
    network = fresh_network
    with client(network.orgs["supplier"]) as c:
        txid = c.append_batch([{"contents": f"e{i}"} for i in range(20)])[-1]
        c.wait_for_commit(txid)
    network.stop("retailer")
    db = sqlite3.connect(network.orgs["retailer"].data / "ledger.db")
    with db:
        db.execute(
            "UPDATE tiles SET hashes = zeroblob(length(hashes)) WHERE tree = 0 AND level = 0"
        )
    db.close()
    network.start("retailer")
    proc = network.orgs["retailer"].proc
    assert proc is not None
    assert proc.wait(60) != 0  # it refuses to run on a tree that contradicts what it signed
    assert "does not match the signed checkpoint" in network.log_tail("retailer", 60)
    network.orgs["retailer"].proc = None
    # The other two still make writes final without it.
    with client(network.orgs["manufacturer"]) as c:
        txid = c.append("still going")
        c.wait_for_commit(txid, timeout=30)


def test_a_node_away_past_retention_catches_up_from_a_peer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json as _json

    network = LocalConsortium.create(tmp_path / "c", ["supplier", "manufacturer", "retailer"])
    for org in network.orgs.values():  # keep only a few messages once a node is away
        path = org.data / "consortium.json"
        raw = _json.loads(path.read_text())
        raw["retention_messages"] = 10
        path.write_text(_json.dumps(raw))
    try:
        network.start_all()
        network.wait_ready()
        with client(network.orgs["retailer"]) as c:
            c.wait_for_commit(c.append("before leaving"), timeout=30)
        network.kill("retailer")
        acked: dict[str, str] = {}
        with client(network.orgs["supplier"]) as c:
            for i in range(40):
                acked[c.append(f"while away {i}")] = f"while away {i}"
        db = sqlite3.connect(network.orgs["retailer"].data / "ledger.db")
        (applied,) = db.execute(
            "SELECT value FROM meta WHERE key = 'consortium.stream_seq'"
        ).fetchone()
        db.close()

        def trimmed_past_retailer() -> bool:
            import re as _re

            floors = _re.findall(
                r"trimmed the stream below (\d+)", network.log_tail("manufacturer", 400)
            )
            return any(int(f) > int(applied) + 1 for f in floors)

        wait_until(trimmed_past_retailer, 30, "the stream to be trimmed past the retailer")
        network.start("retailer")
        network.wait_ready(["retailer"])
        with client(network.orgs["manufacturer"]) as c:
            txid = c.append("after the return")
            acked[txid] = "after the return"
        converged(network, acked)
        assert "caught up from" in network.log_tail("retailer", 400)
    finally:
        network.stop_all()


_PROBE = """
import json, sys
from accord.client.client import AccordClient
from accord.core.policy import Policy
from accord.errors import AccordError
url, crt, cert, key, policy = sys.argv[1:6]
with AccordClient(url, service_cert=crt, cert=cert, key=key, timeout=30) as c:
    try:
        c.append("alone")
        ordered = True
    except AccordError as exc:
        ordered = False
        error = str(exc)
    final = Policy.from_text(open(policy).read()).verify(c.checkpoint()).checkpoint.size
print(json.dumps({"ordered": ordered, "final": final, "error": error if not ordered else ""}))
"""


def _probe_isolated(wrapper: list[str], org, policy: Policy) -> dict:  # type: ignore[no-untyped-def,type-arg]
    import json as _json
    import subprocess
    import sys

    policy_file = org.data / "consortium.policy"
    out = subprocess.run(
        [
            *wrapper,
            sys.executable,
            "-c",
            _PROBE,
            org.url,
            str(org.service_crt),
            str(org.admin_cert),
            str(org.admin_key),
            str(policy_file),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return _json.loads(out.stdout.decode().strip().splitlines()[-1])


def test_an_isolated_organization_cannot_make_anything_final(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real partition (network namespaces and veth): the majority goes on, the isolated node
    cannot order or finalize anything on its own, and after healing it catches up; no fork."""
    from .netns import Partition, namespaces_available

    names = ["supplier", "manufacturer", "retailer"]
    if not namespaces_available():  # the issue allows SIGSTOP where namespaces are unavailable
        network = LocalConsortium.create(tmp_path / "c", names)
        cut, heal = network.pause, network.resume
        partition = None
    else:
        partition = Partition(names)
        network = LocalConsortium.create(tmp_path / "c", names, hosts=partition.ips)
        network.wrappers = {n: partition.wrapper(n) for n in names}
        cut, heal = partition.isolate, partition.heal
    assert network.policy is not None
    policy = Policy.from_text(network.policy.read_text())
    try:
        network.start_all()
        network.wait_ready()
        retailer = network.orgs["retailer"]
        with client(retailer) as c:
            c.wait_for_commit(c.append("before the partition"), timeout=30)
            final_before = policy.verify(c.checkpoint()).checkpoint.size
        cut("retailer")
        with load(network, ["supplier", "manufacturer"]) as running:
            wait_until(lambda: running.count() >= 40, 90, "the majority to go on writing")
            if partition is not None:
                # The isolated node is up but alone: asked from inside its own namespace, it
                # cannot get a write ordered, and its final checkpoint does not move.
                probe = _probe_isolated(partition.wrapper("retailer"), retailer, policy)
                assert probe["ordered"] is False, probe
                assert probe["final"] == final_before, probe
        heal("retailer")
        converged(network, running.acked)
    finally:
        network.stop_all()
        if partition is not None:
            partition.close()


def test_a_node_crash_alone_leaves_no_unmanaged_nats_server(fresh_network: LocalConsortium) -> None:
    """SIGKILL of `accord serve` only: its NATS server outlives it. The restarted node stops that
    server and starts its own (which it supervises and reloads), and nothing is lost."""
    import os as _os
    import signal as _signal

    network = fresh_network
    org = network.orgs["supplier"]
    with client(org) as c:
        acked = {c.append("before the crash"): "before the crash"}
    old_engine = org.engine_pid()
    assert org.proc is not None and old_engine is not None
    _os.kill(org.proc.pid, _signal.SIGKILL)
    org.proc.wait()
    org.proc = None
    _os.kill(old_engine, 0)  # still running, unmanaged
    network.start("supplier")
    network.wait_ready(["supplier"])
    new_engine = org.engine_pid()
    assert new_engine is not None and new_engine != old_engine
    wait_until(lambda: not _alive(old_engine), 15, "the stale NATS server to stop")
    with client(org) as c:
        txid = c.append("after the restart")
        acked[txid] = "after the restart"
    converged(network, acked)


def _alive(pid: int) -> bool:
    from pathlib import Path as _Path

    stat = _Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_node_whose_nats_server_stops_with_it_still_stops(fresh_network: LocalConsortium) -> None:
    """SIGTERM to a node and its NATS server at once (``kill -- -PGID`` on the process group):
    the node, retrying an ordering service that is gone, still stops cleanly and soon. A second
    SIGTERM during a shutdown that cannot finish (the NATS server frozen) stops it at once."""
    import os as _os
    import signal as _signal

    network = fresh_network
    for name in ("supplier", "manufacturer"):  # twice: what it guards against was a timing race
        org = network.orgs[name]
        assert org.proc is not None and org.log is not None
        start = org.log.stat().st_size
        engine = org.engine_pid()
        assert engine is not None
        _os.kill(engine, _signal.SIGTERM)
        _os.kill(org.proc.pid, _signal.SIGTERM)
        assert org.proc.wait(timeout=45) == 0
        tail = org.log.read_bytes()[start:].decode(errors="replace")
        assert "stopped cleanly" in tail and "Traceback" not in tail, tail
        org.proc = None
    org = network.orgs["retailer"]
    assert org.proc is not None and org.log is not None
    start = org.log.stat().st_size
    engine = org.engine_pid()
    assert engine is not None
    _os.kill(engine, _signal.SIGSTOP)  # frozen: the node's goodbye to it cannot complete
    try:
        _os.kill(org.proc.pid, _signal.SIGTERM)
        time.sleep(1.0)
        _os.kill(org.proc.pid, _signal.SIGTERM)
        code = org.proc.wait(timeout=45)
    finally:
        with contextlib.suppress(ProcessLookupError):
            _os.kill(engine, _signal.SIGCONT)
    tail = org.log.read_bytes()[start:].decode(errors="replace")
    assert "Traceback" not in tail, tail
    assert code == 0 or (code == 1 and "second signal: stopping at once" in tail), (code, tail)
    org.proc = None
    wait_until(lambda: not _alive(engine), 20, "the retailer's NATS server to stop")
