"""accord.consortium.engine: the rendered nats-server configuration, and real nats-server processes
started and stopped by Engine (mutual TLS, the durability setting the running server reports).

The certificate and port helpers here are shared with test_ordering.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import json
import os
import socket
import ssl
import stat
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accord.consortium.engine import (
    MAX_PAYLOAD,
    Engine,
    EngineConfig,
    EngineTLS,
    nats_server_binary,
    render_config,
    sanitize_cluster_name,
)
from accord.consortium.ordering import OrderingClient, client_ssl_context
from accord.errors import ConfigurationError, OrderingUnavailable, StorageError

# -- shared helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgPKI:
    """One organization's throwaway PKI: its CA, its server's TLS files, a client certificate."""

    name: str
    ca: Path
    server: EngineTLS  # server.ca is the consortium bundle
    client_cert: Path
    client_key: Path

    def client_context(self) -> ssl.SSLContext:
        return client_ssl_context(self.client_cert, self.client_key, self.server.ca)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_org_pki(directory: Path, name: str, bundle: Path) -> OrgPKI:
    """A CA for ``name``, a server certificate (SAN 127.0.0.1 and localhost; server *and* client
    usage, since a server presents it when it dials a route) and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{name} test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(stem: str, usages: list[x509.ObjectIdentifier], san: bool) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} {stem}"))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if san:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(
            builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        )
        _write_key(key_path, key)
        return cert_path, key_path

    server_cert, server_key = leaf(
        "server", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], san=True
    )
    client_cert, client_key = leaf("client", [ExtendedKeyUsageOID.CLIENT_AUTH], san=False)
    return OrgPKI(
        name, ca_path, EngineTLS(server_cert, server_key, bundle), client_cert, client_key
    )


def make_consortium_pki(directory: Path, names: list[str]) -> dict[str, OrgPKI]:
    """One PKI per organization; every server trusts the bundle of all their CAs."""
    bundle = directory / "consortium-ca.pem"
    orgs = {name: make_org_pki(directory / name, name, bundle) for name in names}
    bundle.write_bytes(b"".join(org.ca.read_bytes() for org in orgs.values()))
    return orgs


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago (bound to port 0 together)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def make_engines(
    base: Path, pki: dict[str, OrgPKI] | None, names: list[str], *, cluster: str = "Test Consortium"
) -> list[Engine]:
    """One Engine per organization, each with its own directory, routed to all the others."""
    ports = free_ports(3 * len(names))
    routes = tuple(f"tls://127.0.0.1:{ports[3 * i + 1]}" for i in range(len(names)))
    engines = []
    for i, name in enumerate(names):
        cfg = EngineConfig(
            server_name=name,
            cluster_name=cluster,
            store_dir=base / name / "jetstream",
            client_port=ports[3 * i],
            cluster_port=ports[3 * i + 1],
            monitor_port=ports[3 * i + 2],
            routes=routes,
            tls=pki[name].server if pki is not None else None,
        )
        engines.append(Engine(cfg, log_path=base / name / "nats.log"))
    return engines


def client_url(engine: Engine) -> str:
    return f"tls://127.0.0.1:{engine.config.client_port}"


def monitor(engine: Engine, endpoint: str) -> Any:
    with urllib.request.urlopen(engine.monitor_url + endpoint, timeout=5) as answer:
        return json.loads(answer.read())


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, OrgPKI]:
    return make_consortium_pki(tmp_path_factory.mktemp("pki"), ["supplier", "buyer"])


@pytest.fixture(scope="module")
def outsider(tmp_path_factory: pytest.TempPathFactory) -> OrgPKI:
    """An organization whose CA is not in the consortium's bundle."""
    directory = tmp_path_factory.mktemp("outsider")
    bundle = directory / "own-ca.pem"
    org = make_org_pki(directory / "outsider", "outsider", bundle)
    bundle.write_bytes(org.ca.read_bytes())
    return org


@pytest.fixture(scope="module")
def lone_engine(
    tmp_path_factory: pytest.TempPathFactory, pki: dict[str, OrgPKI]
) -> Iterator[Engine]:
    """One TLS server of a (never completed) two-server cluster: clients can connect, JetStream
    has no meta leader, which is what Engine.start must not wait for."""
    engine = make_engines(tmp_path_factory.mktemp("lone"), pki, ["supplier", "buyer"])[0]
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


def sample_config(tmp_path: Path, tls: EngineTLS | None) -> EngineConfig:
    return EngineConfig(
        server_name="supplier",
        cluster_name="Acme consortium/2026",
        store_dir=tmp_path / "jetstream",
        client_port=14222,
        cluster_port=16222,
        monitor_port=18222,
        routes=("tls://127.0.0.1:16222", "tls://127.0.0.1:16223"),
        tls=tls,
    )


# -- render_config (pure) -------------------------------------------------------------------------


def test_render_config_is_durable_and_mutually_authenticated(tmp_path: Path) -> None:
    tls = EngineTLS(tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "bundle.pem")
    text = render_config(sample_config(tmp_path, tls))
    assert 'server_name: "supplier"' in text
    assert 'listen: "127.0.0.1:14222"' in text
    assert 'http: "127.0.0.1:18222"' in text
    assert f"max_payload: {MAX_PAYLOAD}" in text
    jetstream = text[text.index("jetstream {") :]
    jetstream = jetstream[: jetstream.index("\n}")]
    assert f'store_dir: "{tmp_path / "jetstream"}"' in jetstream
    assert "\n  sync_interval: always" in jetstream
    tls_lines = [
        f'cert_file: "{tls.cert}"',
        f'key_file: "{tls.key}"',
        f'ca_file: "{tls.ca}"',
        "verify: true",
    ]
    client_tls = text[text.index("\ntls {") : text.index("\njetstream {")]
    cluster = text[text.index("\ncluster {") :]
    cluster_tls = cluster[cluster.index("  tls {") :]
    for line in tls_lines:
        assert f"\n  {line}\n" in client_tls  # top level: clients need a certificate
        assert f"\n    {line}\n" in cluster_tls  # routes too
    assert 'name: "Acme_consortium_2026"' in cluster
    assert 'listen: "127.0.0.1:16222"' in cluster
    assert '"tls://127.0.0.1:16222"\n    "tls://127.0.0.1:16223"\n  ]' in cluster


def test_render_config_plaintext_only_when_asked(tmp_path: Path) -> None:
    text = render_config(sample_config(tmp_path, None))
    assert "tls {" not in text and "cert_file" not in text
    assert "sync_interval: always" in text


def test_render_config_quotes_paths(tmp_path: Path) -> None:
    cfg = sample_config(tmp_path, None)
    odd = Path('/data/we"ird $HOME\\dir\tx')
    text = render_config(EngineConfig(**{**cfg.__dict__, "store_dir": odd}))
    assert 'store_dir: "/data/we\\"ird $HOME\\\\dir\\tx"' in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"server_name": "two words"}, "server name"),
        ({"server_name": ""}, "server name"),
        ({"client_port": 0}, "client_port"),
        ({"monitor_port": 70000}, "monitor_port"),
        ({"cluster_port": 14222}, "must differ"),
        ({"host": 'evil"host'}, "listen host"),
        ({"routes": ("tls://a:1 b",)}, "route"),
        ({"cluster_name": ""}, "cluster"),
        ({"max_file_store": 0}, "max_file_store"),
        ({"threads": 0}, "threads"),
    ],
)
def test_render_config_refuses_bad_values(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    cfg = sample_config(tmp_path, None)
    with pytest.raises(ConfigurationError, match=message):
        render_config(EngineConfig(**{**cfg.__dict__, **change}))


def test_sanitize_cluster_name() -> None:
    assert sanitize_cluster_name("Acme consortium/2026") == "Acme_consortium_2026"
    assert sanitize_cluster_name("ok-name_1") == "ok-name_1"
    assert sanitize_cluster_name(sanitize_cluster_name("a.b c")) == "a_b_c"


def test_max_file_store_is_rendered(tmp_path: Path) -> None:
    cfg = EngineConfig(**{**sample_config(tmp_path, None).__dict__, "max_file_store": 1 << 30})
    assert f"max_file_store: {1 << 30}" in render_config(cfg)


def test_nats_server_binary_is_the_venv_one() -> None:
    binary = nats_server_binary()
    assert binary.is_file() and os.access(binary, os.X_OK)
    assert binary.name.startswith("nats-server")


# -- real servers ---------------------------------------------------------------------------------


def test_running_server_syncs_every_write(lone_engine: Engine) -> None:
    # /varz (and /jsz) report the JetStream config in effect: "sync_always" is what
    # "sync_interval: always" turns into ("sync_interval" keeps showing the 2-minute default,
    # which sync_always overrides).
    varz = monitor(lone_engine, "/varz")
    assert varz["jetstream"]["config"]["sync_always"] is True
    assert varz["server_name"] == "supplier"
    assert varz["max_payload"] == MAX_PAYLOAD
    assert varz["tls_required"] is True and varz["tls_verify"] is True
    assert varz["cluster"]["tls_required"] is True and varz["cluster"]["tls_verify"] is True
    assert monitor(lone_engine, "/jsz")["config"]["sync_always"] is True
    # The file the server runs with is the rendered one, readable by its owner only.
    path = lone_engine.config_path
    assert path.read_text() == render_config(lone_engine.config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert varz["config_load_time"]  # the server did load a configuration file


def test_clients_need_a_certificate_from_the_bundle(
    lone_engine: Engine, pki: dict[str, OrgPKI], outsider: OrgPKI
) -> None:
    url = [client_url(lone_engine)]

    async def attempts() -> None:
        # No client certificate at all (the server is still verified).
        anonymous = ssl.create_default_context(cafile=str(pki["supplier"].server.ca))
        with pytest.raises(OrderingUnavailable):
            await OrderingClient.connect(url, tls=anonymous, name="anon", connect_timeout=1.0)
        # A certificate from a CA outside the bundle (it trusts the server's CA, so only the
        # server's check of the client can refuse it).
        foreign = client_ssl_context(outsider.client_cert, outsider.client_key, pki["buyer"].ca)
        foreign.load_verify_locations(str(pki["supplier"].ca))
        with pytest.raises(OrderingUnavailable):
            await OrderingClient.connect(url, tls=foreign, name="outsider", connect_timeout=1.0)
        # Plaintext.
        with pytest.raises(OrderingUnavailable):
            await OrderingClient.connect(
                [f"nats://127.0.0.1:{lone_engine.config.client_port}"],
                tls=None,
                name="plain",
                connect_timeout=1.0,
            )
        # Members of the consortium, including another organization than the server's own.
        for org in ("supplier", "buyer"):
            client = await OrderingClient.connect(url, tls=pki[org].client_context(), name=org)
            try:
                assert client.connected_url == url[0]
            finally:
                await client.close()

    asyncio.run(attempts())
    log = lone_engine.log_path.read_text()
    assert "client didn't provide a certificate" in log
    assert "certificate signed by unknown authority (CN=outsider client" in log
    connz = monitor(lone_engine, "/connz")
    assert connz["num_connections"] == 0  # the refused ones did not linger either


def test_unreachable_servers_fail_fast(pki: dict[str, OrgPKI]) -> None:
    (port,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(OrderingUnavailable, match="cannot connect"):
        asyncio.run(
            OrderingClient.connect(
                [f"tls://127.0.0.1:{port}"],
                tls=pki["supplier"].client_context(),
                name="nobody-home",
                connect_timeout=1.0,
            )
        )
    assert time.monotonic() - started < 5


def test_stop_leaves_no_process(tmp_path: Path, pki: dict[str, OrgPKI]) -> None:
    engine = make_engines(tmp_path, pki, ["supplier", "buyer"])[0]
    try:
        engine.start()
        pid = engine.pid
        assert pid is not None and process_exists(pid) and engine.running()
        engine.start()  # already running: nothing happens
        assert engine.pid == pid
    finally:
        engine.stop()
    assert not process_exists(pid)  # exited and reaped, not a zombie
    assert engine.pid is None and not engine.running() and not engine.healthy()
    engine.stop()  # idempotent
    assert "Server Exiting" in engine.log_path.read_text()  # SIGTERM: a graceful shutdown


def test_threads_caps_the_servers_gomaxprocs(tmp_path: Path, pki: dict[str, OrgPKI]) -> None:
    default = make_engines(tmp_path / "default", pki, ["supplier", "buyer"])[0]
    engine = make_engines(tmp_path / "capped", pki, ["supplier", "buyer"])[0]
    engine.config = dataclasses.replace(engine.config, threads=1)
    try:
        default.start()
        engine.start()
        assert monitor(engine, "/varz")["gomaxprocs"] == 1
        assert monitor(default, "/varz")["gomaxprocs"] == os.cpu_count()
    finally:
        engine.stop()
        default.stop()


def test_start_failure_reports_the_log(tmp_path: Path, pki: dict[str, OrgPKI]) -> None:
    engine = make_engines(tmp_path, pki, ["supplier", "buyer"])[0]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", engine.config.client_port))
        squatter.listen()
        with pytest.raises(StorageError, match="exited") as failure:
            engine.start(timeout=10)
    assert "address already in use" in str(failure.value)
    assert not engine.running()


def test_missing_tls_file_is_a_configuration_error(tmp_path: Path, pki: dict[str, OrgPKI]) -> None:
    engine = make_engines(tmp_path, pki, ["supplier", "buyer"])[0]
    cfg = engine.config
    assert cfg.tls is not None
    broken = EngineTLS(cfg.tls.cert, tmp_path / "missing.key", cfg.tls.ca)
    engine = Engine(EngineConfig(**{**cfg.__dict__, "tls": broken}), log_path=engine.log_path)
    with pytest.raises(ConfigurationError, match=r"missing\.key"):
        engine.start()
    assert not engine.running()


def test_paths_survive_the_config_syntax(tmp_path: Path) -> None:
    base = tmp_path / 'odd "dir" $HOME\\x'
    engine = make_engines(base, None, ["solo"])[0]
    try:
        engine.start()
        store = monitor(engine, "/varz")["jetstream"]["config"]["store_dir"]
        assert store == str(engine.config.store_dir / "jetstream")  # nats adds "jetstream"
    finally:
        engine.stop()
