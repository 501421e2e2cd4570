"""JWT bearer tokens against a real service: valid, expired, forged, wrong audience, unknown user."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accord.datadir import init_data_dir
from accord.service.users import User, UserStore
from tests.service.conftest import start_service, stop_service

ISSUER = "https://login.example.test/tenant/v2.0"
AUDIENCE = "https://ledger.example.test"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _token(key: ec.EllipticCurvePrivateKey, **overrides: object) -> str:
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "oid": "00000000-0000-0000-0000-0000000000aa",
        "exp": int(time.time()) + 300,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="ES256")


def _call(
    url: str, cafile: Path, token: str | None, method: str = "GET", path: str = "/app/collections"
) -> int:
    ctx = ssl.create_default_context(cafile=str(cafile))
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = b'{"contents":"via token"}' if method == "POST" else None
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_bearer_tokens(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "d", name="tokens.test/ledger")
    key = _key()
    (data / "token-key.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = json.loads(data.config_path.read_text())
    config["jwt"] = {"issuer": ISSUER, "audience": AUDIENCE, "key_file": "token-key.pem"}
    data.config_path.write_text(json.dumps(config))
    UserStore(data / "users.json").put(
        User("00000000-0000-0000-0000-0000000000aa", "Contributor", "token")
    )
    proc, url = start_service(data)
    try:
        ca = data / "service.crt"
        assert _call(url, ca, _token(key)) == 200
        assert _call(url, ca, _token(key), "POST", "/app/transactions") == 200
        assert _call(url, ca, _token(key, exp=int(time.time()) - 10)) == 401  # expired
        assert _call(url, ca, _token(_key())) == 401  # forged: another key
        assert _call(url, ca, _token(key, aud="https://other")) == 401
        assert _call(url, ca, _token(key, iss="https://evil")) == 401
        assert _call(url, ca, _token(key, oid="not-a-user")) == 401
        unsigned = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "oid": "x", "exp": 9999999999}, None, algorithm="none"
        )
        assert _call(url, ca, unsigned) == 401
        assert _call(url, ca, "garbage") == 401
        from cryptography.hazmat.primitives.asymmetric import rsa

        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rs256 = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "oid": "x", "exp": int(time.time()) + 60},
            rsa_key,
            algorithm="RS256",
        )
        assert _call(url, ca, rs256) == 401  # another algorithm family than the key's
        assert _call(url, ca, "\u00e9") == 401  # not even ASCII
        # A Contributor token cannot manage users.
        assert _call(url, ca, _token(key), "GET", "/app/users/someone") == 403
    finally:
        stop_service(proc)
