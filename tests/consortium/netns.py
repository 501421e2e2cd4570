"""Network namespaces for partition tests: one per organization, joined by a bridge.

Layout (all created here, all removed by :meth:`Partition.close`)::

    ns acc<r>-<i>  (org i, 10.231.<k>.<i+1>) ──veth── ns acc<r>-hub (bridge) ──veth── this test
                                                                          (10.231.<k>.254)

Cutting an organization off is ``ip link set <its hub-side veth> down`` in the hub; healing is
``up``. Its node and NATS server keep running, and see every peer time out.
"""

from __future__ import annotations

import contextlib
import random
import subprocess


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def namespaces_available() -> bool:
    name = f"acc-probe-{random.randrange(1 << 30)}"
    try:
        _ip("netns", "add", name)
    except (OSError, subprocess.SubprocessError):
        return False
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        _ip("netns", "del", name)
    return True


class Partition:
    def __init__(self, names: list[str]) -> None:
        self.r = f"{random.randrange(1 << 20):05x}"
        self.k = random.randrange(10, 250)
        self.hub = f"acc{self.r}-hub"
        self.names = names
        self.ns = {name: f"acc{self.r}-{i}" for i, name in enumerate(names)}
        self.ips = {name: f"10.231.{self.k}.{i + 1}" for i, name in enumerate(names)}
        self._made: list[str] = []
        self._root_veth = f"vr{self.r}"
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _hub_veth(self, i: int) -> str:
        return f"vb{self.r}{i}"

    def _build(self) -> None:
        _ip("netns", "add", self.hub)
        self._made.append(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        _ip("-n", self.hub, "link", "set", "lo", "up")
        for i, name in enumerate(self.names):
            ns = self.ns[name]
            _ip("netns", "add", ns)
            self._made.append(ns)
            inner, outer = f"va{self.r}{i}", self._hub_veth(i)
            _ip(
                "link",
                "add",
                inner,
                "netns",
                ns,
                "type",
                "veth",
                "peer",
                "name",
                outer,
                "netns",
                self.hub,
            )
            _ip("-n", ns, "addr", "add", f"{self.ips[name]}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", self.hub, "link", "set", outer, "master", "br0")
            _ip("-n", self.hub, "link", "set", outer, "up")
        _ip(
            "link",
            "add",
            self._root_veth,
            "type",
            "veth",
            "peer",
            "name",
            "vh" + self.r,
            "netns",
            self.hub,
        )
        _ip("addr", "add", f"10.231.{self.k}.254/24", "dev", self._root_veth)
        _ip("link", "set", self._root_veth, "up")
        _ip("-n", self.hub, "link", "set", "vh" + self.r, "master", "br0")
        _ip("-n", self.hub, "link", "set", "vh" + self.r, "up")

    def wrapper(self, name: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[name]]

    def isolate(self, name: str) -> None:
        _ip("-n", self.hub, "link", "set", self._hub_veth(self.names.index(name)), "down")

    def heal(self, name: str) -> None:
        _ip("-n", self.hub, "link", "set", self._hub_veth(self.names.index(name)), "up")

    def close(self) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _ip("link", "del", self._root_veth)
        for ns in reversed(self._made):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                _ip("netns", "del", ns)
        self._made.clear()
