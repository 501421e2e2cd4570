"""Fixtures for service tests: a real `accord serve` process on a free port, real TLS."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accord.client.client import AccordClient
from accord.datadir import DataDir, init_data_dir
from accord.identity import make_user_identity, write_private
from accord.service.users import UserStore

SRC = str(Path(__file__).parents[2] / "src")


@dataclass
class Service:
    data: DataDir
    url: str
    proc: subprocess.Popen[bytes]
    reader_cert: Path
    reader_key: Path

    def client(self, role: str = "admin") -> AccordClient:
        if role == "admin":
            cert, key = self.data / "admin.crt", self.data / "admin.key"
        else:
            cert, key = self.reader_cert, self.reader_key
        return AccordClient(
            self.url, service_cert=str(self.data / "service.crt"), cert=str(cert), key=str(key)
        )

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
        role: str | None = "admin",
    ) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.data / "service.crt"))
        if role == "admin":
            ctx.load_cert_chain(str(self.data / "admin.crt"), str(self.data / "admin.key"))
        elif role == "reader":
            ctx.load_cert_chain(str(self.reader_cert), str(self.reader_key))
        headers = {"Content-Type": content_type} if body is not None else {}
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def tls_socket(service: Service, role: str | None = "admin") -> ssl.SSLSocket:
    """A raw TLS connection to the service (the service certificate pinned)."""
    ctx = ssl.create_default_context(cafile=str(service.data / "service.crt"))
    if role == "admin":
        ctx.load_cert_chain(str(service.data / "admin.crt"), str(service.data / "admin.key"))
    host, port = service.url.removeprefix("https://").split(":")
    raw = socket.create_connection((host, int(port)), timeout=30)
    return ctx.wrap_socket(raw, server_hostname=host)


def read_response(sock: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body: status, headers (lower-case), body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body[:length]


def raw_exchange(
    service: Service, request: bytes, role: str | None = "admin"
) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` bytes as they are over TLS, read one response."""
    with tls_socket(service, role) as sock:
        sock.sendall(request)
        return read_response(sock)


def checkpoint_size(client: AccordClient, data: DataDir, at_least: int = 0) -> int:
    """The size of the service's latest verified checkpoint, once it covers ``at_least``.

    Checkpoints are signed on an interval, so an entry is acknowledged before one covers it.
    """
    from accord.core.checkpoint import open_checkpoint
    from accord.datadir import load_verifier

    vkey = load_verifier(data / "checkpoint.vkey")
    deadline = time.monotonic() + 20
    while True:
        size = open_checkpoint(client.checkpoint(), vkey).size
        if size >= at_least or time.monotonic() > deadline:
            return size
        time.sleep(0.02)


def start_service(data: DataDir, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "accord.cli.main",
            "serve",
            "--data",
            str(data.path),
            "--port",
            "0",
            *extra,
        ],
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    m = re.search(r"https://127\.0\.0\.1:(\d+)", line)
    assert m, line + proc.stderr.read().decode()
    return proc, f"https://127.0.0.1:{m.group(1)}"


def stop_service(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err.decode()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    data = init_data_dir(tmp_path / "data", name="service.test/ledger", max_contents=4096)
    reader = make_user_identity("a reader")
    reader_cert, reader_key = tmp_path / "reader.crt", tmp_path / "reader.key"
    reader_cert.write_bytes(reader.cert_pem())
    write_private(reader_key, reader.key_pem())
    UserStore(data / "users.json").add_certificate(reader.cert_pem().decode(), "Reader")
    proc, url = start_service(data)
    yield Service(data, url, proc, reader_cert, reader_key)
    if proc.poll() is None:
        stop_service(proc)
