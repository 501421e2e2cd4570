"""Throwaway PostgreSQL servers for tests and benchmarks.

:class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` in a fresh directory under ``/tmp``, listens
on 127.0.0.1 (a free port) and on a unix socket inside that directory, and removes everything on
:meth:`PostgresServer.stop`. PostgreSQL refuses to run as root, so when we are root the server
runs as the ``postgres`` user (``runuser -u postgres -- …``) in a directory chowned to it; as
anyone else it runs as ourselves.

The server trusts every local connection (``-A trust``) and has a single role, the superuser
``postgres``: it is for throwaway data only. It keeps ``fsync`` and ``synchronous_commit`` on,
because benchmarks measure durable commits; only ``initdb`` itself skips syncing.

:func:`ensure_postgres_installed` installs Debian's ``postgresql`` package with apt-get when no
PostgreSQL binaries are found (root only). This module does not manage long-lived or production
servers, and it never skips: anything that goes wrong raises
:class:`~accord.errors.ConfigurationError` with the relevant output.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

from accord.errors import ConfigurationError, StorageError

__all__ = [
    "DEFAULT_SETTINGS",
    "PostgresServer",
    "ensure_postgres_installed",
    "find_postgres_bindir",
]

#: Server settings written to ``postgresql.conf``; the constructor's ``settings`` override them.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "fsync": "on",
    "synchronous_commit": "on",
}

_SERVER_USER = "postgres"  # the OS user the server runs as when we are root
_SUPERUSER = "postgres"  # the database superuser initdb creates
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
_INSTALL_LOCK = Path("/tmp/accord-postgres-install.lock")  # noqa: S108 - fixed path is the point
_LOG_TAIL_LINES = 40
_START_ATTEMPTS = 3  # a free port can be taken by someone else between probing and binding


def find_postgres_bindir() -> Path | None:
    """Return a directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``.

    Looks at ``pg_config --bindir``, then ``/usr/lib/postgresql/*/bin`` (highest version first),
    then ``PATH``. A candidate counts only if all three binaries are in it: Debian's ``pg_config``
    from ``libpq-dev`` names a bindir even when no server is installed.
    """
    for candidate in _bindir_candidates():
        if all(os.access(candidate / name, os.X_OK) for name in _REQUIRED_BINARIES):
            return candidate
    return None


def _bindir_candidates() -> list[Path]:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=False
            )
            if result.returncode == 0 and result.stdout.strip():
                candidates.append(Path(result.stdout.strip()))
    if _DEBIAN_PG_ROOT.is_dir():
        versions = [p for p in _DEBIAN_PG_ROOT.iterdir() if (p / "bin").is_dir()]
        versions.sort(key=lambda p: _version_key(p.name), reverse=True)
        candidates.extend(p / "bin" for p in versions)
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    return candidates


def _version_key(name: str) -> tuple[int, ...]:
    """Sort key for version directory names such as ``15`` or ``9.6``; non-numbers sort first."""
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (-1,)


def ensure_postgres_installed() -> Path:
    """Return the PostgreSQL bindir, installing Debian's ``postgresql`` package if it is missing.

    Installing runs ``apt-get update`` and ``apt-get install -y postgresql`` and needs root; its
    progress goes to stderr. Concurrent callers (e.g. pytest-xdist workers) install only once.

    Raises:
        ConfigurationError: PostgreSQL is missing and cannot be installed here.
    """
    bindir = find_postgres_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0:
        raise ConfigurationError(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found and we are not "
            "root, so they cannot be installed here; run `apt-get install -y postgresql` as root "
            "(or scripts/ensure-postgres)"
        )
    if shutil.which("apt-get") is None:
        raise ConfigurationError(
            "PostgreSQL server binaries were not found and apt-get is not available to install them"
        )
    with _INSTALL_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bindir = find_postgres_bindir()  # another process may have installed it meanwhile
        if bindir is not None:
            return bindir
        _progress("PostgreSQL not found; installing Debian's postgresql package")
        _run_streaming(["apt-get", "update"])
        _run_streaming(["apt-get", "install", "-y", "postgresql"])
    bindir = find_postgres_bindir()
    if bindir is None:
        raise ConfigurationError(
            "apt-get installed postgresql but no directory with initdb, pg_ctl and postgres "
            f"was found (looked at pg_config --bindir, {_DEBIAN_PG_ROOT}/*/bin and PATH)"
        )
    _progress(f"PostgreSQL installed in {bindir}")
    return bindir


def _progress(message: str) -> None:
    print(f"accord.testing.pgserver: {message}", file=sys.stderr, flush=True)


def _run_streaming(argv: Sequence[str]) -> None:
    """Run an install command, echoing its output to stderr; raise with its tail on failure."""
    _progress("running " + " ".join(argv))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL_LINES)
    try:
        with subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        ) as process:
            for line in process.stdout or ():
                tail.append(line)
                sys.stderr.write(line)
                sys.stderr.flush()
            returncode = process.wait()
    except OSError as exc:
        raise ConfigurationError(f"could not run {argv[0]}: {exc}") from exc
    if returncode != 0:
        raise ConfigurationError(
            f"{' '.join(argv)} failed with exit code {returncode}; last output:\n" + "".join(tail)
        )


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log at {path}: {exc.strerror})"
    return "".join(text.splitlines(keepends=True)[-lines:]) or "(server log is empty)"


class PostgresServer:
    """A throwaway PostgreSQL server in its own temporary directory.

    Usage::

        with PostgresServer() as server:
            dsn = server.create_database("ledger_test")
            ...

    ``settings`` override :data:`DEFAULT_SETTINGS` (values are written verbatim to
    ``postgresql.conf``, so strings need their own quotes). ``bindir`` skips the search and the
    install; without it :func:`ensure_postgres_installed` finds (or installs) the binaries.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        settings: Mapping[str, str] | None = None,
        bindir: Path | str | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        self._settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._bindir = Path(bindir) if bindir is not None else None
        self._startup_timeout = startup_timeout
        self._base_dir: Path | None = None
        self._port: int | None = None
        self._running = False

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; returns ``self``.

        Raises:
            ConfigurationError: PostgreSQL is missing and cannot be installed, or ``initdb`` or
                the server failed (the message carries their output / the server log's tail).
        """
        if self._base_dir is not None:
            raise ConfigurationError("this PostgresServer was already started")
        bindir = self._bindir or ensure_postgres_installed()
        self._bindir = bindir
        run_as = self._server_user()
        self._base_dir = Path(tempfile.mkdtemp(prefix="accord-pg-", dir="/tmp"))
        atexit.register(self.stop)
        try:
            self.socket_dir.mkdir()
            if run_as is not None:
                for path in (self._base_dir, self.socket_dir):
                    os.chown(path, run_as.pw_uid, run_as.pw_gid)
            self._initdb()
            self._write_settings()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) and delete its directory. Safe to repeat."""
        base_dir = self._base_dir
        if base_dir is None:
            return
        atexit.unregister(self.stop)
        try:
            if self._running:
                self._running = False
                # A failed stop (the server already died) must not keep the directory around.
                with contextlib.suppress(ConfigurationError):
                    self._pg_ctl("stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")
        finally:
            self._base_dir = None
            self._port = None
            shutil.rmtree(base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- where it is -----------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        """The temporary directory holding ``data/``, ``socket/`` and ``server.log``."""
        if self._base_dir is None:
            raise ConfigurationError("the PostgresServer is not started")
        return self._base_dir

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        """Directory of the server's unix socket (usable as ``host=`` in a libpq DSN)."""
        return self.base_dir / "socket"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"

    @property
    def port(self) -> int:
        if self._port is None or not self._running:
            raise ConfigurationError("the PostgresServer is not running")
        return self._port

    @property
    def running(self) -> bool:
        return self._running

    def dsn_for(self, dbname: str) -> str:
        """DSN of database ``dbname`` over TCP, as the superuser (the only role)."""
        return f"postgresql://{_SUPERUSER}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    @property
    def dsn(self) -> str:
        """DSN of the default ``postgres`` database (use :meth:`create_database` for your own)."""
        return self.dsn_for("postgres")

    @property
    def superuser_dsn(self) -> str:
        """DSN of the ``postgres`` database as the superuser, for administration."""
        return self.dsn_for("postgres")

    # ----- databases -------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN.

        Raises:
            StorageError: the server refused (e.g. the database already exists).
        """
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)), name)
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions first."""
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self._admin(statement.format(sql.Identifier(name)), name)

    def _admin(self, statement: sql.Composed, name: str) -> None:
        try:
            with psycopg.connect(self.superuser_dsn, autocommit=True, connect_timeout=30) as conn:
                conn.execute(statement)
        except psycopg.Error as exc:
            raise StorageError(f"database {name!r} on the throwaway server: {exc}") from exc

    # ----- internals -------------------------------------------------------------------------

    @staticmethod
    def _server_user() -> pwd.struct_passwd | None:
        """The user to run the server as, or ``None`` to run it as ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            user = pwd.getpwnam(_SERVER_USER)
        except KeyError:
            raise ConfigurationError(
                f"PostgreSQL refuses to run as root and there is no {_SERVER_USER!r} user to run "
                "it as; install Debian's postgresql package (it creates the user)"
            ) from None
        if shutil.which("runuser") is None:
            raise ConfigurationError("running PostgreSQL as the postgres user needs `runuser`")
        return user

    def _command(self, binary: str, *args: str) -> list[str]:
        if self._bindir is None:
            raise ConfigurationError("the PostgresServer is not started")
        argv = [str(self._bindir / binary), *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", _SERVER_USER, "--", *argv]
        return argv

    def _run(self, binary: str, *args: str) -> subprocess.CompletedProcess[str]:
        # PG* variables (PGDATA, PGPORT, …) from the caller's environment would redirect pg_ctl.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        try:
            return subprocess.run(
                self._command(binary, *args),
                cwd=self.base_dir,  # the postgres user may not be able to enter our cwd
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self._startup_timeout + 60,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigurationError(f"could not run {binary}: {exc}") from exc

    def _initdb(self) -> None:
        result = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "--auth=trust",
            f"--username={_SUPERUSER}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # only initdb skips fsync; the server itself runs with fsync=on
        )
        if result.returncode != 0:
            raise ConfigurationError(
                f"initdb failed with exit code {result.returncode}:\n"
                + (result.stdout + result.stderr)[-4000:]
            )

    def _write_settings(self) -> None:
        settings = {
            **self._settings,
            "unix_socket_directories": "'" + str(self.socket_dir).replace("'", "''") + "'",
        }
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        # Appending keeps initdb's file owner; later lines override earlier ones.
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# accord.testing.pgserver\n" + lines)

    def _start_server(self) -> None:
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = _free_tcp_port()
            log_size = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self._pg_ctl(
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    str(int(self._startup_timeout)),
                    "-o",
                    f"-p {port}",
                )
            except ConfigurationError:
                # pg_ctl may give up waiting while the postmaster is still alive; stop it before
                # retrying or reporting, so no orphan keeps the directory busy.
                self._running = True
                self._port = port
                self._stop_quietly()
                if attempt < _START_ATTEMPTS and self._port_was_taken(log_size):
                    continue
                raise
            self._port = port
            self._running = True
            return

    def _port_was_taken(self, log_offset: int) -> bool:
        """Whether the server log, from ``log_offset`` on, says our port was taken meanwhile."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(log_offset)
                return b"already in use" in log.read()
        except OSError:
            return False

    def _stop_quietly(self) -> None:
        with contextlib.suppress(ConfigurationError):
            self._pg_ctl("stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30")
        self._running = False

    def _pg_ctl(self, *args: str) -> None:
        result = self._run("pg_ctl", *args)
        if result.returncode != 0:
            raise ConfigurationError(
                f"pg_ctl {args[0]} failed with exit code {result.returncode} "
                f"(data directory {self.data_dir}):\n{(result.stdout + result.stderr).strip()}\n"
                f"last lines of the server log {self.log_path}:\n{_tail(self.log_path)}"
            )
