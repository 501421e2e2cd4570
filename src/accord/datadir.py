"""A ledger's data directory: configuration, keys, certificates and (by default) the SQLite file.

Layout (created by ``accord init``; private keys are mode 0600)::

    config.json        name, storage location, limits (format accord.config.v1)
    ledger.db          the SQLite ledger (unless config.json names a PostgreSQL DSN)
    checkpoint.key     Ed25519 checkpoint signing key, C2SP signer-key form        (0600)
    checkpoint.vkey    its C2SP verifier key: give this to anyone who verifies
    service.crt/.key   the service identity (self-signed CA) clients pin            (.key 0600)
    node.crt/.key      this node's TLS certificate, issued by service.crt           (.key 0600)
    admin.crt/.key     the initial Administrator's client certificate               (.key 0600)
    users.json         users and roles (fingerprint or token id → role)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.core.entry import DEFAULT_MAX_CONTENTS
from accord.core.note import Signer, Verifier
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

CONFIG_FORMAT = "accord.config.v1"
DEFAULT_HOSTS = ["127.0.0.1", "localhost"]


@dataclass
class Config:
    name: str
    storage: str = "ledger.db"
    max_contents: int = DEFAULT_MAX_CONTENTS
    checkpoint_interval: float = 0.0
    public_log: bool = False
    hosts: list[str] = field(default_factory=lambda: list(DEFAULT_HOSTS))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CONFIG_FORMAT,
            "name": self.name,
            "storage": self.storage,
            "max_contents": self.max_contents,
            "checkpoint_interval": self.checkpoint_interval,
            "public_log": self.public_log,
            "hosts": self.hosts,
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
            if raw.get("format") != CONFIG_FORMAT:
                raise ConfigurationError(
                    f"{self.config_path}: unknown format {raw.get('format')!r}"
                )
            return Config(
                name=str(raw["name"]),
                storage=str(raw.get("storage", "ledger.db")),
                max_contents=int(raw.get("max_contents", DEFAULT_MAX_CONTENTS)),
                checkpoint_interval=float(raw.get("checkpoint_interval", 0.0)),
                public_log=bool(raw.get("public_log", False)),
                hosts=[str(h) for h in raw.get("hosts", DEFAULT_HOSTS)],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"cannot read {self.config_path}: {exc}") from exc

    def storage_location(self, config: Config | None = None) -> str:
        storage = (config or self.load_config()).storage
        if storage.startswith(("postgresql://", "postgres://")):
            return storage
        return str(self.path / storage)

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


def load_verifier(path: str | os.PathLike[str]) -> Verifier:
    try:
        return Verifier.from_vkey(Path(path).read_text().strip())
    except OSError as exc:
        raise ConfigurationError(f"cannot read verifier key {path}: {exc}") from exc


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
    from accord.log.ledger import Ledger, LedgerOptions

    data = DataDir(path)
    if data.exists():
        raise ConfigurationError(f"{data.path} already holds a ledger; refusing to overwrite it")
    try:
        signer = Signer.generate(name)
    except AccordError as exc:
        raise ConfigurationError(f"invalid ledger name {name!r}: {exc}") from exc
    if max_contents < 1:
        raise ConfigurationError("max contents must be at least 1 byte")
    data.path.mkdir(parents=True, exist_ok=True)
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
    write_private(data / "checkpoint.key", (signer.to_skey() + "\n").encode())
    write_public(data / "checkpoint.vkey", (signer.verifier().to_vkey() + "\n").encode())
    for stem, identity in (("service", service), ("node", node), ("admin", admin)):
        write_private(data / f"{stem}.key", identity.key_pem())
        write_public(data / f"{stem}.crt", identity.cert_pem())
    admin_entry = {"role": "Administrator", "kind": "cert", "cert": admin.cert_pem().decode()}
    users = {"users": {fingerprint(admin.cert): admin_entry}}
    write_public(data / "users.json", (json.dumps(users, indent=2) + "\n").encode())
    ledger = Ledger.create_or_open(
        data.storage_location(config), signer, LedgerOptions(max_contents=max_contents)
    )
    ledger.close()
    # config.json last: its presence marks a complete data directory.
    write_public(data.config_path, (json.dumps(config.to_json(), indent=2) + "\n").encode())
    return data
