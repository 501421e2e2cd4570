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
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

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


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pem_cert(kc: KeyAndCert) -> bytes:
    return kc.cert.public_bytes(serialization.Encoding.PEM)


def _der_sha256(kc: KeyAndCert) -> str:
    import hashlib

    return hashlib.sha256(kc.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _engine_ca(org: str) -> KeyAndCert:
    return make_service_identity(f"{org} ordering CA")


def create_consortium(
    directory: Path,
    orgs: Sequence[str],
    *,
    name: str = "accord.example/consortium",
    host: str = "127.0.0.1",
    constitution: Constitution | None = None,
    storage: dict[str, str] | None = None,
) -> dict[str, object]:
    """Create every organization's data directory and the genesis; returns a summary."""
    if len(set(orgs)) != len(orgs) or not orgs:
        raise ConfigurationError("organization names must be distinct and at least one")
    directory.mkdir(parents=True, exist_ok=True)
    for org in orgs:
        if (directory / org).exists():
            raise ConfigurationError(f"{directory / org} already exists; choose an empty directory")
    service = make_service_identity(name)
    ca_dir = directory / "service-ca"
    ca_dir.mkdir(exist_ok=True)
    os.chmod(ca_dir, 0o700)
    write_private(ca_dir / "service.key", service.key_pem())
    write_public(ca_dir / "service.crt", service.cert_pem())

    ports = {org: Ports(*free_ports(4, host)) for org in orgs}
    engine_cas = {org: _engine_ca(org) for org in orgs}
    bundle = b"".join(_pem_cert(ca) for ca in engine_cas.values())
    members: list[Member] = []
    nodes: list[Node] = []
    users: dict[str, str] = {}
    secrets: dict[str, _OrgKeys] = {}
    for org in orgs:
        p = ports[org]
        node_signer = Signer.generate(name)
        member_signer = Signer.generate(org)
        cosigner = Cosigner.generate(org)
        node_tls = make_node_identity(service, [host, "localhost"])
        admin = make_user_identity(f"{org} administrator")
        admin_id = fingerprint(admin.cert)
        members.append(Member(org, member_signer.verifier(), cosigner.key(), admin_id))
        nodes.append(
            Node(
                node_id=f"{org}-node",
                member=org,
                log_key=node_signer.verifier(),
                url=f"https://{host}:{p.https}",
                engine_route=f"tls://{host}:{p.cluster}",
                engine_client=f"tls://{host}:{p.client}",
                tls_cert_sha256=_der_sha256(node_tls),
            )
        )
        users[admin_id] = "Administrator"
        secrets[org] = _OrgKeys(node_signer, member_signer, cosigner, node_tls, admin)
    genesis = genesis_document(
        name, service.cert_pem().decode(), constitution or Constitution(), members, nodes, users
    )
    genesis_time = int(time.time() * 1000)
    state = genesis_state(genesis, seqno=1, timestamp_ms=genesis_time)
    policy_path = directory / "consortium.policy"
    write_public(policy_path, state.policy_text().encode())
    replicas = min(len(orgs), MAX_REPLICAS)
    summary: dict[str, object] = {"name": name, "policy": str(policy_path), "orgs": {}}
    for org in orgs:
        data = DataDir(directory / org)
        data.path.mkdir(parents=True)
        os.chmod(data.path, 0o700)
        s = secrets[org]
        p = ports[org]
        config = Config(
            name=name,
            storage=(storage or {}).get(org, "ledger.db"),
            hosts=[host, "localhost"],
        )
        data.config_path.write_text(json.dumps(config.to_json(), indent=2) + "\n")
        node_signer, member_signer, cosigner = s.node_signer, s.member_signer, s.cosigner
        write_private(data / "checkpoint.key", (node_signer.to_skey() + "\n").encode())
        write_public(data / "checkpoint.vkey", (node_signer.verifier().to_vkey() + "\n").encode())
        write_private(data / "member.key", (member_signer.to_skey() + "\n").encode())
        write_public(data / "member.vkey", (member_signer.verifier().to_vkey() + "\n").encode())
        write_private(data / "cosigner.key", (cosigner.to_skey() + "\n").encode())
        write_public(data / "cosigner.vkey", (cosigner.key().to_vkey() + "\n").encode())
        node_tls, admin = s.node_tls, s.admin
        write_private(data / "node.key", node_tls.key_pem())
        write_public(data / "node.crt", node_tls.cert_pem())
        write_public(data / "service.crt", service.cert_pem())
        write_private(data / "admin.key", admin.key_pem())
        write_public(data / "admin.crt", admin.cert_pem())
        # users.json stays for tools that read a plain data directory; the node's users are the
        # replicated ones.
        write_public(
            data / "users.json",
            (
                json.dumps(
                    {
                        fingerprint(admin.cert): {
                            "role": "Administrator",
                            "kind": "cert",
                            "cert": admin.cert_pem().decode(),
                        }
                    },
                    indent=2,
                )
                + "\n"
            ).encode(),
        )
        write_public(data / "member0.crt", admin.cert_pem())
        write_public(data / "constitution.md", CONSTITUTION_MD.format(name=name).encode())
        tls_dir = data / "engine-tls"
        tls_dir.mkdir()
        os.chmod(tls_dir, 0o700)
        ca = engine_cas[org]
        write_private(tls_dir / "ca.key", ca.key_pem())
        write_public(tls_dir / "ca.crt", ca.cert_pem())
        server = make_node_identity(ca, [host, "localhost"])
        write_private(tls_dir / "server.key", server.key_pem())
        write_public(tls_dir / "server.crt", server.cert_pem())
        write_public(data / "engine-ca-bundle.pem", bundle)
        write_public(data / "genesis.json", genesis.encode())
        others = [o for o in orgs if o != org]
        settings = {
            "format": NODE_FORMAT,
            "node_id": f"{org}-node",
            "member": org,
            "host": host,
            "https_port": p.https,
            "engine": {
                "client_port": p.client,
                "cluster_port": p.cluster,
                "monitor_port": p.monitor,
                "routes": [f"tls://{host}:{ports[o].cluster}" for o in others],
                "servers": [f"tls://{host}:{p.client}"]
                + [f"tls://{host}:{ports[o].client}" for o in others],
            },
            "stream": STREAM,
            "subject": "accord.envelopes",
            "replicas": replicas,
            "genesis_time_ms": genesis_time,
        }
        (data / "consortium.json").write_text(json.dumps(settings, indent=2) + "\n")
        write_public(data / "consortium.policy", state.policy_text().encode())
        orgs_summary = summary["orgs"]
        assert isinstance(orgs_summary, dict)  # noqa: S101
        orgs_summary[org] = {
            "data": str(data.path),
            "url": f"https://{host}:{p.https}",
            "service_crt": str(data / "service.crt"),
            "admin_cert": str(data / "admin.crt"),
            "admin_key": str(data / "admin.key"),
        }
    return summary


CONSTITUTION_MD = """# Constitution of the accord consortium {name}

The constitution in force is data on the ledger (GET /app/governance/constitution): the quorum of
member organizations whose cosignatures make a checkpoint final, the vote threshold for each kind
of proposal, and how long a proposal stays open. Members change it by signed vote.
"""
