"""A small HTTPS client for accord's verification and entry endpoints (standard library only).

It pins the service certificate (``service.crt``) as the only trust anchor and can present a client
certificate. Everything it fetches that can be verified is verified by the callers in
:mod:`accord.client.verify` against the checkpoint verifier key, not trusted because of TLS.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    InvalidRequest,
    NotFound,
    StorageError,
)


class HttpClient:
    def __init__(
        self,
        url: str,
        *,
        cacert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme != "https":
            raise InvalidRequest(f"the service URL must be https://, got {url!r}")
        self.base = url.rstrip("/")
        self.timeout = timeout
        try:
            ctx = ssl.create_default_context(cafile=cacert)
            if cert:
                ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"cannot load TLS files (cacert={cacert}, cert={cert}, key={key}): {exc}"
            ) from exc
        self._ctx = ctx

    def request(
        self, method: str, path: str, *, body: Any = None, query: dict[str, str] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ctx) as resp:  # noqa: S310
                return resp.read(), dict(resp.headers.items())
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                message = json.loads(payload)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = payload.decode("utf-8", "replace")[:500] or exc.reason
            if exc.code == 404:
                raise NotFound(message) from None
            if exc.code in (401, 403):
                raise AuthError(f"{exc.code}: {message}") from None
            if exc.code < 500:
                raise InvalidRequest(message) from None
            raise StorageError(f"service error {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AccordError(f"cannot reach {self.base}: {exc}") from exc

    def get_json(self, path: str, query: dict[str, str] | None = None) -> Any:
        body, _ = self.request("GET", path, query=query)
        return json.loads(body)

    def checkpoint(self) -> str:
        return self.request("GET", "/checkpoint")[0].decode()

    def tile(self, path: str) -> bytes:
        return self.request("GET", "/" + path)[0]

    def receipt(self, txid: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/receipts/{urllib.parse.quote(txid)}")
        return result

    def append(self, contents: str, collection_id: str | None = None) -> str:
        query = {"collectionId": collection_id} if collection_id else None
        _, headers = self.request(
            "POST", "/app/transactions", body={"contents": contents}, query=query
        )
        return headers.get("x-ms-ccf-transaction-id", "")

    def entry(self, txid: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/app/transactions/{urllib.parse.quote(txid)}")
        return result

    def status(self, txid: str) -> str:
        return str(self.get_json(f"/app/transactions/{urllib.parse.quote(txid)}/status")["state"])
