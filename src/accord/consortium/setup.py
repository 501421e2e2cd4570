"""Creating a consortium: every organization's keys and data directory, and the genesis.

``create_consortium(dir, ["supplier", "manufacturer", "retailer"])`` makes, for each organization,
a data directory ``dir/<org>/`` holding (private keys 0600)::

    config.json           an accord data directory (name = the consortium's origin)
    checkpoint.key/.vkey  the node key: signs checkpoints ("log" signature) and envelopes
    member.key/.vkey      the member key: signs the organization's proposals and ballots
    cosigner.key/.vkey    the organization's cosigner key (C2SP tlog-cosignature, Ed25519)
    node.crt/.key         the node's TLS certificate, issued by the consortium's service CA
    service.crt           the consortium's service certificate (the CA clients and the SDK pin)
    admin.crt/.key        the organization's first Administrator (a client certificate)
    encryption.key        the organization's X25519 key, to which private collections' contents
                          are sealed (its public half is the member's encryptionKey)
    engine-tls/           the organization's own CA for its NATS server, and the server's and
                          node's certificates (mTLS between NATS servers and from the node)
    engine-ca-bundle.pem  every organization's engine CA: whom this NATS server accepts
    genesis.json          the genesis document: ledger entry 1, identical in every directory
    consortium.json       this node's settings: node id, member, ports, stream, peers' engines

and ``dir/consortium.policy``, the C2SP tlog-policy that verifies the consortium's checkpoints.

Who holds what. Each organization's member, cosigner and node keys are generated in its own
directory and never leave it. The service CA key (``dir/service-ca/service.key``) is held by
whoever ran the genesis (in the demo: the demo's directory); it only issues TLS certificates: it
cannot sign a checkpoint, cosign one, or vote, so it cannot make a forged history verify under the
consortium's policy. ``docs/consortium.md`` says what it *can* do (issue a TLS certificate for a
host name).
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.core.consortium import Constitution, Member, Node, genesis_document, genesis_state
from accord.core.cosignature import Cosigner
from accord.core.note import Signer
from accord.datadir import Config, DataDir
from accord.errors import ConfigurationError
from accord.identity import (
    KeyAndCert,
    fingerprint,
    make_node_identity,
    make_service_identity,
    make_user_identity,
    write_private,
    write_public,
)
from accord.private.keys import ENCRYPTION_KEY, private_pem, public_bytes

NODE_FORMAT = "accord.node.v1"
STREAM = "ACCORD"
MAX_REPLICAS = 5


@dataclass(frozen=True)
class Ports:
    https: int
    client: int
    cluster: int
    monitor: int


@dataclass(frozen=True)
class _OrgKeys:
    node_signer: Signer
    member_signer: Signer
    cosigner: Cosigner
    node_tls: KeyAndCert
    admin: KeyAndCert
    encryption: X25519PrivateKey


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that are free now, below the kernel's ephemeral range.

    Ports from the ephemeral range (what binding port 0 gives) may be taken by any outgoing
    connection before the servers start; these are not.
    """
    low, high = _PORT_RANGE
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        high = min(high, ephemeral_low)
    except (OSError, ValueError, IndexError):
        pass
    chosen: list[int] = []
    rng = random.SystemRandom()
    for _ in range(count * 200):
        if len(chosen) == count:
            break
        port = rng.randrange(low, high)
        if port in chosen:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        chosen.append(port)
    if len(chosen) < count:
        raise ConfigurationError(f"cannot find {count} free ports between {low} and {high}")
    return chosen


_PORT_RANGE = (20000, 32768)


def _pem_cert(kc: KeyAndCert) -> bytes:
    return kc.cert.public_bytes(serialization.Encoding.PEM)


def _der_sha256(kc: KeyAndCert) -> str:
    import hashlib

    return hashlib.sha256(kc.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _engine_ca(org: str) -> KeyAndCert:
    return make_service_identity(f"{org} ordering CA")


@dataclass
class _NewOrg:
    """One organization's freshly generated keys, certificates and ports (not yet on disk)."""

    name: str
    ports: Ports
    keys: _OrgKeys
    engine_ca: KeyAndCert
    member: Member
    node: Node


def _new_org(org: str, origin: str, service: KeyAndCert, host: str) -> _NewOrg:
    p = Ports(*free_ports(4))  # picked on this machine; the organization may listen elsewhere
    node_signer = Signer.generate(origin)
    member_signer = Signer.generate(org)
    cosigner = Cosigner.generate(org)
    node_tls = make_node_identity(service, [host, "localhost"])
    admin = make_user_identity(f"{org} administrator")
    engine_ca = _engine_ca(org)
    encryption = X25519PrivateKey.generate()
    member = Member(
        org,
        member_signer.verifier(),
        cosigner.key(),
        fingerprint(admin.cert),
        encryption_key=public_bytes(encryption),
    )
    node = Node(
        node_id=f"{org}-node",
        member=org,
        log_key=node_signer.verifier(),
        url=f"https://{host}:{p.https}",
        engine_route=f"tls://{host}:{p.cluster}",
        engine_client=f"tls://{host}:{p.client}",
        tls_cert_sha256=_der_sha256(node_tls),
        engine_ca_pem=engine_ca.cert_pem().decode(),
    )
    keys = _OrgKeys(node_signer, member_signer, cosigner, node_tls, admin, encryption)
    return _NewOrg(org, p, keys, engine_ca, member, node)


def _write_org(
    data: DataDir,
    org: _NewOrg,
    *,
    origin: str,
    service_pem: bytes,
    genesis: str,
    genesis_time: int,
    peers: Sequence[Node],
    bundle: bytes,
    replicas: int,
    host: str,
    storage: str,
    policy_text: str,
    engine_threads: int | None = None,
) -> None:
    """Write one organization's data directory (see the module docstring)."""
    data.path.mkdir(parents=True)
    os.chmod(data.path, 0o700)
    config = Config(name=origin, storage=storage, hosts=[host, "localhost"])
    data.config_path.write_text(json.dumps(config.to_json(), indent=2) + "\n")
    k = org.keys
    write_private(data / "checkpoint.key", (k.node_signer.to_skey() + "\n").encode())
    write_public(data / "checkpoint.vkey", (k.node_signer.verifier().to_vkey() + "\n").encode())
    write_private(data / "member.key", (k.member_signer.to_skey() + "\n").encode())
    write_public(data / "member.vkey", (k.member_signer.verifier().to_vkey() + "\n").encode())
    write_private(data / "cosigner.key", (k.cosigner.to_skey() + "\n").encode())
    write_public(data / "cosigner.vkey", (k.cosigner.key().to_vkey() + "\n").encode())
    write_private(data / "node.key", k.node_tls.key_pem())
    write_public(data / "node.crt", k.node_tls.cert_pem())
    write_public(data / "service.crt", service_pem)
    write_private(data / "admin.key", k.admin.key_pem())
    write_public(data / "admin.crt", k.admin.cert_pem())
    write_private(data / ENCRYPTION_KEY, private_pem(k.encryption))
    # users.json and member0.crt stay for tools that read a plain data directory; the node's
    # users are the replicated ones.
    users = {
        fingerprint(k.admin.cert): {
            "role": "Administrator",
            "kind": "cert",
            "cert": k.admin.cert_pem().decode(),
        }
    }
    write_public(data / "users.json", (json.dumps(users, indent=2) + "\n").encode())
    write_public(data / "member0.crt", k.admin.cert_pem())
    write_public(data / "constitution.md", CONSTITUTION_MD.format(name=origin).encode())
    tls_dir = data / "engine-tls"
    tls_dir.mkdir()
    os.chmod(tls_dir, 0o700)
    write_private(tls_dir / "ca.key", org.engine_ca.key_pem())
    write_public(tls_dir / "ca.crt", org.engine_ca.cert_pem())
    server = make_node_identity(org.engine_ca, [host, "localhost"])
    write_private(tls_dir / "server.key", server.key_pem())
    write_public(tls_dir / "server.crt", server.cert_pem())
    write_public(data / "engine-ca-bundle.pem", bundle)
    write_public(data / "genesis.json", genesis.encode())
    p = org.ports
    others = [n for n in peers if n.node_id != org.node.node_id]
    settings = {
        "format": NODE_FORMAT,
        "node_id": org.node.node_id,
        "member": org.name,
        "host": host,
        "https_port": p.https,
        "engine": {
            "client_port": p.client,
            "cluster_port": p.cluster,
            "monitor_port": p.monitor,
            "routes": [n.engine_route for n in others],
            "servers": [org.node.engine_client] + [n.engine_client for n in others],
            **({} if engine_threads is None else {"threads": engine_threads}),
        },
        "stream": STREAM,
        "subject": "accord.envelopes",
        "replicas": replicas,
        "genesis_time_ms": genesis_time,
    }
    (data / "consortium.json").write_text(json.dumps(settings, indent=2) + "\n")
    write_public(data / "consortium.policy", policy_text.encode())


def _org_summary(data: DataDir, org: _NewOrg) -> dict[str, str]:
    return {
        "data": str(data.path),
        "url": org.node.url,
        "service_crt": str(data / "service.crt"),
        "admin_cert": str(data / "admin.crt"),
        "admin_key": str(data / "admin.key"),
    }


def create_consortium(
    directory: Path,
    orgs: Sequence[str],
    *,
    name: str = "accord.example/consortium",
    host: str = "127.0.0.1",
    constitution: Constitution | None = None,
    storage: dict[str, str] | None = None,
    hosts: dict[str, str] | None = None,
) -> dict[str, object]:
    """Create every organization's data directory and the genesis; returns a summary.

    Every organization listens on ``host`` unless ``hosts`` names another address for it (one
    network namespace per organization, in tests).
    """
    if len(set(orgs)) != len(orgs) or not orgs:
        raise ConfigurationError("organization names must be distinct and at least one")
    directory.mkdir(parents=True, exist_ok=True)
    for org_name in orgs:
        if (directory / org_name).exists():
            raise ConfigurationError(
                f"{directory / org_name} already exists; choose an empty directory"
            )
    service = make_service_identity(name)
    ca_dir = directory / "service-ca"
    ca_dir.mkdir(exist_ok=True)
    os.chmod(ca_dir, 0o700)
    write_private(ca_dir / "service.key", service.key_pem())
    write_public(ca_dir / "service.crt", service.cert_pem())
    host_of = {o: (hosts or {}).get(o, host) for o in orgs}
    new = [_new_org(org_name, name, service, host_of[org_name]) for org_name in orgs]
    users = {o.member.admin_user: "Administrator" for o in new}
    genesis = genesis_document(
        name,
        service.cert_pem().decode(),
        constitution or Constitution(),
        [o.member for o in new],
        [o.node for o in new],
        users,
    )
    genesis_time = int(time.time() * 1000)
    state = genesis_state(genesis, seqno=1, timestamp_ms=genesis_time)
    policy_path = directory / "consortium.policy"
    write_public(policy_path, state.policy_text().encode())
    bundle = "".join(o.node.engine_ca_pem for o in sorted(new, key=lambda o: o.node.node_id))
    bundle_bytes = bundle.encode()
    summary: dict[str, object] = {"name": name, "policy": str(policy_path), "orgs": {}}
    orgs_summary: dict[str, dict[str, str]] = {}
    for org in new:
        data = DataDir(directory / org.name)
        _write_org(
            data,
            org,
            origin=name,
            service_pem=service.cert_pem(),
            genesis=genesis,
            genesis_time=genesis_time,
            peers=[o.node for o in new],
            bundle=bundle_bytes,
            replicas=min(len(orgs), MAX_REPLICAS),
            host=host_of[org.name],
            storage=(storage or {}).get(org.name, "ledger.db"),
            policy_text=state.policy_text(),
            # Every organization's NATS server runs on this one machine: one thread each.
            engine_threads=1,
        )
        orgs_summary[org.name] = _org_summary(data, org)
    summary["orgs"] = orgs_summary
    return summary


def prepare_joining_org(
    directory: Path,
    name: str,
    *,
    peer: Path,
    service_ca: Path,
    current_nodes: Sequence[Node],
    host: str = "127.0.0.1",
    storage: str = "ledger.db",
) -> tuple[Member, Node, dict[str, str]]:
    """Create the data directory of an organization that will join by vote.

    ``peer`` is any existing organization's data directory (for the genesis and the stream
    settings), ``service_ca`` the directory holding the service CA key (it issues the new node's
    TLS certificate), ``current_nodes`` the consortium's nodes as the live state reports them
    (the new NATS server routes to theirs). Returns the member and node to propose with
    ``member.add`` and ``node.add``; nothing changes in the consortium until members accept them.
    """
    from accord.identity import load_key_and_cert

    data = DataDir(directory)
    if data.path.exists():
        raise ConfigurationError(f"{data.path} already exists; choose a new directory")
    peer_data = DataDir(peer)
    settings = json.loads((peer_data / "consortium.json").read_text())
    origin = peer_data.load_config().name
    service = load_key_and_cert(service_ca / "service.key", service_ca / "service.crt")
    org = _new_org(name, origin, service, host)
    nodes = [*current_nodes, org.node]
    bundle = "".join(n.engine_ca_pem for n in sorted(nodes, key=lambda n: n.node_id)).encode()
    _write_org(
        data,
        org,
        origin=origin,
        service_pem=service.cert_pem(),
        genesis=(peer_data / "genesis.json").read_text(),
        genesis_time=int(settings["genesis_time_ms"]),
        peers=nodes,
        bundle=bundle,
        replicas=int(settings["replicas"]),
        host=host,
        storage=storage,
        policy_text=(peer_data / "consortium.policy").read_text(),
    )
    write_public(data / "member.json", (json.dumps(org.member.to_json(), indent=2) + "\n").encode())
    write_public(data / "node.json", (json.dumps(org.node.to_json(), indent=2) + "\n").encode())
    return org.member, org.node, _org_summary(data, org)


CONSTITUTION_MD = """# Constitution of the accord consortium {name}

The constitution in force is data on the ledger (GET /app/governance/constitution): the quorum of
member organizations whose cosignatures make a checkpoint final, the vote threshold for each kind
of proposal, and how long a proposal stays open. Members change it by signed vote.
"""
