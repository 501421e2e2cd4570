"""JWT bearer-token authentication (as Azure AD tokens are used with Azure Confidential Ledger).

Tokens are verified against a configured issuer, audience and key: a PEM public key or a JWKS
file. Only asymmetric algorithms are accepted (RS256/384/512, PS256/384/512, ES256/384/512,
EdDSA), never ``none`` or HMAC, so a verification key can never be used to forge a token. The
user id is the token's ``oid`` claim (Azure AD object id) or, failing that, ``sub``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from accord.errors import AuthError, ConfigurationError

ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]


@dataclass(frozen=True)
class TokenConfig:
    issuer: str
    audience: str
    key_file: str

    @classmethod
    def from_json(cls, raw: Any) -> TokenConfig:
        try:
            return cls(str(raw["issuer"]), str(raw["audience"]), str(raw["key_file"]))
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"jwt settings need issuer, audience and key_file: {exc}"
            ) from exc


class TokenVerifier:
    def __init__(self, config: TokenConfig, base_dir: Path) -> None:
        self.config = config
        path = Path(config.key_file)
        if not path.is_absolute():
            path = base_dir / path
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the token key {path}: {exc}") from exc
        self._keys: dict[str | None, Any] = {}
        if text.lstrip().startswith("{"):
            try:
                jwks = jwt.PyJWKSet.from_json(text)
            except (jwt.PyJWTError, ValueError) as exc:
                raise ConfigurationError(f"{path} is not a valid JWKS: {exc}") from exc
            for key in jwks.keys:
                self._keys[key.key_id] = key.key
        else:
            try:
                self._keys[None] = serialization.load_pem_public_key(text.encode())
            except ValueError as exc:
                raise ConfigurationError(f"{path} is not a PEM public key: {exc}") from exc

    def user_id(self, token: str) -> str:
        """Verify ``token`` and return its user id; AuthError on any defect."""
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self._keys.get(kid) if kid in self._keys else self._keys.get(None)
            if key is None:
                raise AuthError("token signed by an unknown key")
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.config.audience,
                issuer=self.config.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # UnicodeError is a ValueError
            raise AuthError(f"invalid bearer token: {exc}") from None
        user = claims.get("oid") or claims.get("sub")
        if not isinstance(user, str) or not user:
            raise AuthError("the token has neither an oid nor a sub claim")
        return user


def load_token_config(raw: Any) -> TokenConfig | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = json.loads(raw)
    return TokenConfig.from_json(raw)
