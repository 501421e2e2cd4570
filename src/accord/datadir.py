"""A ledger's data directory: configuration, keys, certificates and (by default) the SQLite file.

Layout (created by ``accord init``; private keys are mode 0600)::

    config.json        name, storage location, limits (format accord.config.v1)
    ledger.db          the SQLite ledger (unless config.json names a PostgreSQL DSN)
    checkpoint.key     Ed25519 checkpoint signing key, C2SP signer-key form        (0600)
    checkpoint.vkey    its C2SP verifier key: give this to anyone who verifies
    service.crt/.key   the service identity (self-signed CA) clients pin            (.key 0600)
    node.crt/.key      this node's TLS certificate, issued by service.crt           (.key 0600)
    admin.crt/.key     the initial Administrator's client certificate               (.key 0600)
    member0.crt/.key   the initial consortium member's certificate                  (.key 0600)
    constitution.md    the rules the consortium governs by (served by the governance API)
    users.json         users and roles (fingerprint or token id → role)
    latest-checkpoint  the newest checkpoint this ledger signed (C2SP signed note), kept outside
                       the database: a ledger whose storage is missing, emptied or behind it
                       refuses to start or verify (see accord.log.record)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accord.core.entry import DEFAULT_MAX_CONTENTS
from accord.core.note import Signer, Verifier
from accord.core.quoting import quoted
from accord.errors import AccordError, ConfigurationError
from accord.identity import (
    KeyAndCert,
    fingerprint,
    load_key_and_cert,
    make_node_identity,
    make_service_identity,
    make_user_identity,
    write_private,
    write_public,
)
from accord.log.ledger import DEFAULT_CHECKPOINT_INTERVAL
from accord.log.record import RECORD_FILE, CheckpointRecord
from accord.log.storage import LogStorage, is_postgres_location, open_storage, unsupported_scheme

if TYPE_CHECKING:
    from accord.governance import Governance
    from accord.log.ledger import Ledger, LedgerReader

CONFIG_FORMAT = "accord.config.v1"
DEFAULT_HOSTS = ["127.0.0.1", "localhost"]
DEFAULT_MAX_BATCH_ENTRIES = 1000
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024


@dataclass
class Config:
    name: str
    storage: str = "ledger.db"
    max_contents: int = DEFAULT_MAX_CONTENTS
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    public_log: bool = False
    hosts: list[str] = field(default_factory=lambda: list(DEFAULT_HOSTS))
    ledger_id: str = ""
    jwt: dict[str, str] | None = None
    max_batch_entries: int = DEFAULT_MAX_BATCH_ENTRIES
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES

    def __post_init__(self) -> None:
        if not self.ledger_id:
            self.ledger_id = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-") or "accord"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CONFIG_FORMAT,
            "name": self.name,
            "storage": self.storage,
            "max_contents": self.max_contents,
            "checkpoint_interval": self.checkpoint_interval,
            "public_log": self.public_log,
            "hosts": self.hosts,
            "ledger_id": self.ledger_id,
            "jwt": self.jwt,
            "max_batch_entries": self.max_batch_entries,
            "max_batch_bytes": self.max_batch_bytes,
        }


class DataDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def exists(self) -> bool:
        return self.config_path.is_file()

    def load_config(self) -> Config:
        if not self.exists():
            raise ConfigurationError(
                f"{self.path} is not an accord data directory (no config.json); "
                f"create one with: accord init --data {self.path}"
            )
        try:
            raw = json.loads(self.config_path.read_text())
            if not isinstance(raw, dict):
                raise ConfigurationError(f"{self.config_path}: not a JSON object")
            if raw.get("format") != CONFIG_FORMAT:
                raise ConfigurationError(
                    f"{self.config_path}: unknown format {raw.get('format')!r}"
                )
            config = Config(
                name=str(raw["name"]),
                storage=str(raw.get("storage", "ledger.db")),
                max_contents=int(raw.get("max_contents", DEFAULT_MAX_CONTENTS)),
                checkpoint_interval=float(
                    raw.get("checkpoint_interval", DEFAULT_CHECKPOINT_INTERVAL)
                ),
                public_log=bool(raw.get("public_log", False)),
                hosts=[str(h) for h in raw.get("hosts", DEFAULT_HOSTS)],
                ledger_id=str(raw.get("ledger_id", "")),
                jwt=raw.get("jwt"),
                max_batch_entries=int(raw.get("max_batch_entries", DEFAULT_MAX_BATCH_ENTRIES)),
                max_batch_bytes=int(raw.get("max_batch_bytes", DEFAULT_MAX_BATCH_BYTES)),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"cannot read {self.config_path}: {exc}") from exc
        _check_config(config, self.config_path)
        return config

    def storage_location(self, config: Config | None = None) -> str:
        storage = (config or self.load_config()).storage
        if is_postgres_location(storage):
            return storage
        return str(self.path / storage)

    def checkpoint_record(self) -> CheckpointRecord:
        return CheckpointRecord(self.path / RECORD_FILE)

    def open_ledger(self, *, with_node: bool = True) -> Ledger:
        """Open this directory's ledger for writing, guarded by its checkpoint record.

        Storage that holds less than the newest checkpoint this directory signed raises
        :class:`~accord.errors.LedgerMissing` and is not touched.
        """
        from accord.log.ledger import Ledger, LedgerOptions

        config = self.load_config()
        return Ledger.create_or_open(
            self.storage_location(config),
            self.signer(),
            LedgerOptions(
                max_contents=config.max_contents, checkpoint_interval=config.checkpoint_interval
            ),
            self.node() if with_node else None,
            self.checkpoint_record(),
        )

    def open_storage(self, *, read_only: bool = True) -> LogStorage:
        """This directory's ledger storage, read-only unless asked; never creates a ledger.

        Raises :class:`~accord.errors.LedgerMissing` when it holds no ledger although this
        directory has signed checkpoints (or has none and is simply missing).
        """
        from accord.log.ledger import require_ledger

        location = self.storage_location()
        recorded = self.checkpoint_record().read(self.verifier())
        storage = open_storage(location, read_only=read_only)
        try:
            require_ledger(storage, recorded, location)
        except BaseException:
            storage.close()
            raise
        return storage

    def open_reader(self) -> LedgerReader:
        """A read-only reader of this directory's ledger (checked like :meth:`open_storage`)."""
        from accord.log.ledger import LedgerReader

        storage = self.open_storage(read_only=True)
        try:
            return LedgerReader(storage, self.verifier())
        except BaseException:
            storage.close()
            raise

    def signer(self) -> Signer:
        try:
            return Signer.from_skey((self.path / "checkpoint.key").read_text().strip())
        except OSError as exc:
            raise ConfigurationError(f"cannot read the checkpoint key: {exc}") from exc

    def verifier(self) -> Verifier:
        return load_verifier(self.path / "checkpoint.vkey")

    def service(self) -> KeyAndCert:
        return load_key_and_cert(self.path / "service.key", self.path / "service.crt")

    def node(self) -> KeyAndCert:
        return load_key_and_cert(self.path / "node.key", self.path / "node.crt")


CONSTITUTION = """# Constitution of the accord ledger {name}

1. Members. The consortium's members are listed by the governance API with their certificates.
   This ledger has one member, created by `accord init`; members are admitted by vote once the
   consortium network is enabled.
2. Users. Administrators add, change and remove users and their roles (Administrator,
   Contributor, Reader). Contributors append entries; Readers read.
3. The log. Entries are append-only. Every committed entry is covered by a checkpoint signed with
   the ledger key whose verifier key is published as checkpoint.vkey; the ledger never signs two
   inconsistent checkpoints.
4. Platform. This node runs without a hardware enclave; its guarantees come from signatures and
   Merkle proofs that anyone can check, not from attestation.
"""


def load_governance(data: DataDir) -> Governance:
    """The constitution, members and identities the governance endpoints report."""
    from cryptography.hazmat.primitives import serialization

    from accord.governance import Governance

    config = data.load_config()
    try:
        constitution = (data / "constitution.md").read_text()
        member_pem = (data / "member0.crt").read_text()
        service_pem = (data / "service.crt").read_text()
    except OSError as exc:
        raise ConfigurationError(f"incomplete data directory {data.path}: {exc}") from exc
    from cryptography import x509

    try:
        member_der = x509.load_pem_x509_certificate(member_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
    except ValueError as exc:
        raise ConfigurationError(
            f"{data / 'member0.crt'} is not a PEM certificate ({exc}); restore it from a backup"
        ) from exc
    node_public = (
        data.node()
        .cert.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return Governance(
        ledger_id=config.ledger_id,
        node_id=hashlib.sha256(node_public).hexdigest(),
        service_cert_pem=service_pem,
        constitution=constitution,
        members=((hashlib.sha256(member_der).hexdigest(), member_pem),),
    )


def load_verifier(path: str | os.PathLike[str]) -> Verifier:
    try:
        return Verifier.from_vkey(Path(path).read_text().strip())
    except OSError as exc:
        raise ConfigurationError(f"cannot read verifier key {path}: {exc}") from exc


def _populate(
    data: DataDir,
    signer: Signer,
    name: str,
    storage: str | None,
    hosts: list[str] | None,
    max_contents: int,
    public_log: bool,
) -> None:
    from accord.log.ledger import Ledger, LedgerOptions

    os.chmod(data.path, 0o700)
    config = Config(
        name=name,
        storage=storage or "ledger.db",
        max_contents=max_contents,
        public_log=public_log,
        hosts=hosts or list(DEFAULT_HOSTS),
    )
    service = make_service_identity(name)
    node = make_node_identity(service, config.hosts)
    admin = make_user_identity("accord administrator")
    member = make_user_identity("accord member 0")
    # The ledger storage first: an unreachable database fails before any key is written.
    ledger = Ledger.create_or_open(
        data.storage_location(config),
        signer,
        LedgerOptions(max_contents=max_contents),
        record=data.checkpoint_record(),
    )
    ledger.close()
    write_private(data / "checkpoint.key", (signer.to_skey() + "\n").encode())
    write_public(data / "checkpoint.vkey", (signer.verifier().to_vkey() + "\n").encode())
    identities = (("service", service), ("node", node), ("admin", admin), ("member0", member))
    for stem, identity in identities:
        write_private(data / f"{stem}.key", identity.key_pem())
        write_public(data / f"{stem}.crt", identity.cert_pem())
    admin_entry = {"role": "Administrator", "kind": "cert", "cert": admin.cert_pem().decode()}
    users = {"users": {fingerprint(admin.cert): admin_entry}}
    write_public(data / "constitution.md", CONSTITUTION.format(name=name).encode())
    write_public(data / "users.json", (json.dumps(users, indent=2) + "\n").encode())
    # config.json last: its presence marks a complete data directory.
    write_public(data.config_path, (json.dumps(config.to_json(), indent=2) + "\n").encode())


def init_data_dir(
    path: str | os.PathLike[str],
    *,
    name: str,
    storage: str | None = None,
    hosts: list[str] | None = None,
    max_contents: int = DEFAULT_MAX_CONTENTS,
    public_log: bool = False,
) -> DataDir:
    """Create a data directory with fresh keys and an initialized, empty ledger."""
    data = DataDir(path)
    if data.exists():
        raise ConfigurationError(f"{data.path} already holds a ledger; refusing to overwrite it")
    try:
        signer = Signer.generate(name)
    except AccordError as exc:
        raise ConfigurationError(f"invalid ledger name {name!r}: {exc}") from exc
    if max_contents < 1:
        raise ConfigurationError("max contents must be at least 1 byte")
    if storage and (why := unsupported_scheme(storage)) is not None:
        raise ConfigurationError(f"unsupported storage location {quoted(storage)}: {why}")
    created_dir = not data.path.exists()
    data.path.mkdir(parents=True, exist_ok=True)
    before = set(data.path.iterdir())
    try:
        _populate(data, signer, name, storage, hosts, max_contents, public_log)
    except BaseException:
        # Leave nothing half-made: a failed init (say, an unreachable database) can be re-run.
        for leftover in set(data.path.iterdir()) - before:
            leftover.unlink(missing_ok=True)
        if created_dir:
            with contextlib.suppress(OSError):
                data.path.rmdir()
        raise
    return data


def _check_config(config: Config, path: Path) -> None:
    """Refuse settings no ledger can run with, naming the key (nothing is changed)."""
    if config.max_contents < 1:
        raise ConfigurationError(f"{path}: max_contents must be at least 1 byte")
    if not 0 <= config.checkpoint_interval <= 3600:
        raise ConfigurationError(f"{path}: checkpoint_interval must be 0-3600 seconds")
    if config.max_batch_entries < 1 or config.max_batch_bytes < 1:
        raise ConfigurationError(f"{path}: max_batch_entries and max_batch_bytes must be positive")
    if (why := unsupported_scheme(config.storage)) is not None:
        raise ConfigurationError(
            f"{path}: unsupported storage location {quoted(config.storage)}: {why}"
        )
