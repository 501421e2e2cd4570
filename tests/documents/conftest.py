"""Fixtures for the document store's S3 API: a real `accord serve` process, real TLS, boto3.

:class:`S3Server` owns one data directory with three users — the Administrator (``admin.crt``),
a Contributor (a token user) and a Reader (a certificate user) — each with an access key made by
``accord documents keys create``. It starts ``accord serve --port 0`` as a subprocess, reads the
S3 port from the banner, and stops it with SIGTERM (insisting on exit code 0); it can be stopped
and started again on the same directory to test that the state is rebuilt from the ledger.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from accord.cli.main import main as accord_main
from accord.datadir import DataDir, init_data_dir
from accord.identity import make_user_identity, write_private
from accord.service.users import UserStore

SRC = str(Path(__file__).parents[2] / "src")
REGION = "us-east-1"
CONTRIBUTOR = "contributor-1"
ROLES = ("admin", "contributor", "reader")
_BANNER_S3 = re.compile(r"serving documents \(S3 API\) on (https://127\.0\.0\.1:\d+)")
_names = itertools.count(1)


def unique_bucket(stem: str = "b") -> str:
    """A bucket name no other test of the session uses (S3 naming rules)."""
    return f"{stem}-{os.getpid()}-{next(_names)}"


def accord_cli(*argv: str) -> tuple[int, str]:
    """Run one `accord` command in this process (the real CLI code): exit code, stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = accord_main(list(argv))
    return code, out.getvalue()


def accord_subprocess(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run one `accord` command as its own process (exit codes and output as a user sees them)."""
    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.run(
        [sys.executable, "-m", "accord.cli.main", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def create_access_key(data: DataDir, user: str) -> dict[str, str]:
    code, out = accord_cli(
        "documents", "keys", "create", "--data", str(data.path), "--user", user, "--json"
    )
    assert code == 0, out
    key: dict[str, str] = json.loads(out)
    assert set(key) == {"access_key_id", "secret_access_key"}
    return key


@dataclass
class S3Server:
    """One data directory served by `accord serve`; boto3 clients for its users."""

    data: DataDir
    keys: dict[str, dict[str, str]]
    proc: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    banner: str = ""
    _clients: dict[tuple[str, ...] | tuple[Any, ...], Any] = field(default_factory=dict)

    # --- the process -------------------------------------------------------------------------
    def start(self) -> None:
        assert self.proc is None, "already running"
        env = dict(os.environ, PYTHONPATH=SRC)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "accord.cli.main",
                "serve",
                "--data",
                str(self.data.path),
                "--port",
                "0",
            ],
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stderr is not None
        lines = [proc.stderr.readline().decode(), proc.stderr.readline().decode()]
        found = _BANNER_S3.search(lines[1])
        if not found or "serving ledger" not in lines[0]:
            proc.kill()
            _, rest = proc.communicate(timeout=30)
            raise AssertionError("accord serve did not start: " + "".join(lines) + rest.decode())
        self.proc, self.endpoint, self.banner = proc, found.group(1), "".join(lines)

    def stop(self) -> str:
        """SIGTERM, wait, insist on exit code 0; the rest of stderr."""
        proc, self.proc = self.proc, None
        assert proc is not None, "not running"
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("accord serve did not stop within 30 s of SIGTERM") from None
        assert proc.returncode == 0, err.decode()
        return err.decode()

    def kill(self) -> None:
        """For cleanup after a failure: stop the process whatever state it is in."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)
        self.proc = None

    # --- clients -----------------------------------------------------------------------------
    @property
    def ca(self) -> str:
        return str(self.data / "service.crt")

    def client(
        self,
        role: str = "admin",
        *,
        key_id: str | None = None,
        secret: str | None = None,
        signature_version: str | None = None,
        **options: Any,
    ) -> Any:
        """A boto3 S3 client signing as ``role`` (or with the given key), path-style, no retries.

        ``signature_version="s3v4"`` matters only to presigned URLs: botocore signs requests
        with SigV4 anyway, but presigns with SigV2 unless told (accord refuses SigV2). Other
        ``options`` go to botocore's ``Config`` (e.g. ``request_checksum_calculation``), or its
        ``s3`` options when named ``s3_...``."""
        if key_id is None or secret is None:
            key_id, secret = self.keys[role]["access_key_id"], self.keys[role]["secret_access_key"]
        s3_options = {"addressing_style": "path"}
        s3_options.update({k[3:]: v for k, v in options.items() if k.startswith("s3_")})
        other = {k: v for k, v in options.items() if not k.startswith("s3_")}
        cache = (self.endpoint, key_id, secret, signature_version, repr(sorted(options.items())))
        if cache not in self._clients:
            self._clients[cache] = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                verify=self.ca,
                region_name=REGION,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                config=Config(
                    s3=s3_options,
                    retries={"max_attempts": 1},
                    signature_version=signature_version,
                    **other,
                ),
            )
        return self._clients[cache]

    def signed(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        role: str = "admin",
    ) -> requests.Response:
        """A request signed by botocore's SigV4 (payload hash included) but otherwise built by
        hand, for bodies boto3 would never send (malformed XML)."""
        key = self.keys[role]
        request = AWSRequest(
            method=method, url=self.endpoint + path, data=body, headers=dict(headers or {})
        )
        S3SigV4Auth(
            Credentials(key["access_key_id"], key["secret_access_key"]), "s3", REGION
        ).add_auth(request)
        prepared = request.prepare()
        return requests.request(
            method,
            prepared.url,
            data=body,
            headers=dict(prepared.headers),
            verify=self.ca,
            timeout=30,
        )


def make_s3_data(root: Path) -> tuple[DataDir, dict[str, dict[str, str]]]:
    """A fresh data directory with an Administrator, a Contributor and a Reader, and an access
    key each (plus a spare Administrator key for revocation tests)."""
    data = init_data_dir(root / "data", name="documents.test/ledger")
    users = UserStore(data / "users.json")
    users.assign_role(CONTRIBUTOR, "token", "Contributor")
    reader = make_user_identity("a reader")
    reader_cert = root / "reader.crt"
    reader_cert.write_bytes(reader.cert_pem())
    write_private(root / "reader.key", reader.key_pem())
    users.add_certificate(reader.cert_pem().decode(), "Reader")
    keys = {
        "admin": create_access_key(data, str(data / "admin.crt")),
        "contributor": create_access_key(data, CONTRIBUTOR),
        "reader": create_access_key(data, str(reader_cert)),
        "spare": create_access_key(data, str(data / "admin.crt")),
    }
    return data, keys


@contextlib.contextmanager
def running_server(root: Path) -> Iterator[S3Server]:
    data, keys = make_s3_data(root)
    server = S3Server(data, keys)
    server.start()
    try:
        yield server
        if server.proc is not None:
            server.stop()
    finally:
        server.kill()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One `accord serve` for a whole test module (tests use their own buckets)."""
    with running_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def fresh_s3_server(tmp_path: Path) -> Iterator[S3Server]:
    """A server of its own, for a test that stops it or tampers with its directory."""
    with running_server(tmp_path) as server:
        yield server
