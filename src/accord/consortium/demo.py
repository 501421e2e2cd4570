"""Bringing up a whole consortium on one machine: the demo, the tests and the benchmark share it.

:class:`LocalConsortium` creates the organizations' data directories (``create_consortium``),
starts each organization's ``accord serve --data DIR/<org>`` as its own process (which starts its
own NATS server), waits until every node answers, and can stop, SIGKILL, SIGSTOP and restart an
organization. ``accord consortium demo`` is :func:`run_demo`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from accord.consortium.setup import create_consortium
from accord.errors import ConfigurationError

DEFAULT_ORGS = ("supplier", "manufacturer", "retailer", "shipper", "warehouse")


@dataclass
class OrgProcess:
    name: str
    data: Path
    url: str
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def service_crt(self) -> Path:
        return self.data / "service.crt"

    @property
    def admin_cert(self) -> Path:
        return self.data / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.data / "admin.key"

    def engine_pid(self) -> int | None:
        try:
            return int((self.data / "engine" / "nats.pid").read_text())
        except (OSError, ValueError):
            return None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.service_crt))
        ctx.load_cert_chain(str(self.admin_cert), str(self.admin_key))
        return ctx

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310 - our own https URL
                self.url + "/app/governance/policy", context=self.ssl_context(), timeout=2
            ) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError, ssl.SSLError):
            return False


@dataclass
class LocalConsortium:
    directory: Path
    orgs: dict[str, OrgProcess] = field(default_factory=dict)
    policy: Path | None = None
    env: dict[str, str] | None = None

    wrappers: dict[str, list[str]] = field(default_factory=dict)
    """A command prefix per organization (``ip netns exec <ns>`` in the partition tests)."""

    @classmethod
    def create(
        cls,
        directory: Path,
        names: Sequence[str],
        *,
        storage: dict[str, str] | None = None,
        hosts: dict[str, str] | None = None,
    ) -> LocalConsortium:
        summary = create_consortium(directory, list(names), storage=storage, hosts=hosts)
        orgs_raw = summary["orgs"]
        assert isinstance(orgs_raw, dict)  # noqa: S101
        orgs = {
            name: OrgProcess(name, Path(info["data"]), info["url"])
            for name, info in orgs_raw.items()
        }
        return cls(directory, orgs, Path(str(summary["policy"])))

    # --- processes ----------------------------------------------------------------------------
    def start(self, name: str) -> None:
        org = self.orgs[name]
        if org.proc is not None and org.proc.poll() is None:
            raise ConfigurationError(f"{name} is already running")
        org.log = self.directory / f"{name}.log"
        with open(org.log, "ab") as out:
            org.proc = subprocess.Popen(
                [
                    *self.wrappers.get(name, []),
                    sys.executable,
                    "-m",
                    "accord.cli.main",
                    "serve",
                    "--data",
                    str(org.data),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )

    def start_all(self) -> None:
        for name in self.orgs:
            self.start(name)

    def wait_ready(self, names: Sequence[str] | None = None, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(names or self.orgs)
        while waiting:
            for name in list(waiting):
                org = self.orgs[name]
                if org.proc is not None and org.proc.poll() is not None:
                    raise ConfigurationError(
                        f"{name} exited with {org.proc.returncode}; see {org.log}:\n"
                        + self.log_tail(name)
                    )
                if org.answers():
                    waiting.remove(name)
            if waiting and time.monotonic() > deadline:
                raise ConfigurationError(f"{', '.join(waiting)} did not answer in {timeout:.0f} s")
            if waiting:
                time.sleep(0.2)

    def log_tail(self, name: str, lines: int = 30) -> str:
        org = self.orgs[name]
        if org.log is None or not org.log.exists():
            return ""
        return "\n".join(org.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, name: str, timeout: float = 30.0) -> None:
        org = self.orgs[name]
        if org.proc is None:
            return
        if org.proc.poll() is None:
            org.proc.send_signal(signal.SIGTERM)
            try:
                org.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                org.proc.kill()
                org.proc.wait()
        self._kill_engine(org)
        org.proc = None

    def kill(self, name: str) -> None:
        """SIGKILL the organization's node and its NATS server at once (a crash)."""
        org = self.orgs[name]
        engine = org.engine_pid()
        if org.proc is not None and org.proc.poll() is None:
            org.proc.kill()
        if engine is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(engine, signal.SIGKILL)
        if org.proc is not None:
            org.proc.wait()
        org.proc = None

    def pause(self, name: str) -> None:
        """SIGSTOP the node and its NATS server: to the others it is cut off."""
        self._signal_both(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self._signal_both(name, signal.SIGCONT)

    def _signal_both(self, name: str, sig: signal.Signals) -> None:
        org = self.orgs[name]
        for pid in (org.proc.pid if org.proc else None, org.engine_pid()):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)

    def _kill_engine(self, org: OrgProcess) -> None:
        pid = org.engine_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            time.sleep(0.5)
            os.kill(pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in self.orgs:
            with contextlib.suppress(Exception):
                self.stop(name)

    def describe(self) -> dict[str, object]:
        """What ``DIR/consortium.json`` holds."""
        return {
            "format": "accord.demo.v1",
            "policy": str(self.policy),
            "orgs": [
                {
                    "name": o.name,
                    "url": o.url,
                    "data": str(o.data),
                    "service_crt": str(o.service_crt),
                    "admin_cert": str(o.admin_cert),
                    "admin_key": str(o.admin_key),
                    "pid": o.proc.pid if o.proc else None,
                    "engine_pid": o.engine_pid(),
                }
                for o in self.orgs.values()
            ],
        }


def run_demo(directory: Path, count: int) -> int:
    if not 2 <= count <= len(DEFAULT_ORGS):
        # One organization is not a consortium (and its NATS server would have no cluster).
        raise ConfigurationError(f"--orgs must be between 2 and {len(DEFAULT_ORGS)}")
    names = DEFAULT_ORGS[:count]
    if directory.exists() and any(directory.iterdir()):
        existing = [n for n in names if (directory / n / "consortium.json").exists()]
        if len(existing) != count:
            raise ConfigurationError(
                f"{directory} is not empty and holds no demo of {count} organizations; "
                "choose an empty directory"
            )
        consortium = LocalConsortium(
            directory,
            {n: OrgProcess(n, directory / n, _url_of(directory / n)) for n in names},
            directory / "consortium.policy",
        )
        print(f"accord: restarting the consortium in {directory}", file=sys.stderr)
    else:
        print(
            f"accord: creating a consortium of {', '.join(names)} in {directory}", file=sys.stderr
        )
        consortium = LocalConsortium.create(directory, names)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        consortium.start_all()
        print("accord: starting every node and its NATS server ...", file=sys.stderr, flush=True)
        consortium.wait_ready()
        description = consortium.describe()
        (directory / "consortium.json").write_text(json.dumps(description, indent=2) + "\n")
        first = next(iter(consortium.orgs.values()))
        last = list(consortium.orgs.values())[-1]
        print(
            f"""accord: the consortium is up; {directory / "consortium.json"} describes it.

Try:
  accord append --url {first.url} --cacert {first.service_crt} \\
      --cert {first.admin_cert} --key {first.admin_key} 'hello from {first.name}'
  accord get --url {last.url} --cacert {last.service_crt} \\
      --cert {last.admin_cert} --key {last.admin_key} 1.2
  curl --cacert {last.service_crt} --cert {last.admin_cert} --key {last.admin_key} {last.url}/checkpoint
  accord verify --url {last.url} --cacert {last.service_crt} --cert {last.admin_cert} \\
      --key {last.admin_key} --policy {consortium.policy}

Stop with Ctrl-C. Restart one organization after a crash: accord serve --data {first.data}""",
            flush=True,
        )
        while not stop:
            time.sleep(0.5)
            for name, org in consortium.orgs.items():
                if org.proc is not None and org.proc.poll() is not None:
                    print(
                        f"accord: {name} exited ({org.proc.returncode}); see {org.log}",
                        file=sys.stderr,
                    )
                    org.proc = None
    finally:
        print("accord: stopping the consortium", file=sys.stderr, flush=True)
        consortium.stop_all()
    return 0


def _url_of(data: Path) -> str:
    raw = json.loads((data / "consortium.json").read_text())
    return f"https://{raw.get('host', '127.0.0.1')}:{raw['https_port']}"
