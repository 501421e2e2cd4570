"""Accepting any client certificate at the TLS layer, as CCF and Azure Confidential Ledger do.

Users of a confidential ledger bring their own self-signed certificates and are registered by
SHA-256 *fingerprint* only, at runtime. Python's :mod:`ssl` can request a client certificate only
by also verifying it against trusted CAs, and it exposes no verification callback. So this module
installs OpenSSL's ``SSL_CTX_set_verify`` callback on the context through ``ctypes``: the callback
accepts any client certificate (the TLS handshake itself proves the client holds the private key);
the application then checks the certificate's validity period and authorizes by fingerprint —
exactly CCF's model.

This touches CPython internals (the ``SSL_CTX *`` stored right after ``PyObject_HEAD`` in the
``_ssl._SSLContext`` object). :func:`accept_any_client_certificate` returns False when it cannot do
so safely (another platform or Python build); the service then falls back to trusting only
registered certificates whose PEM it holds, and says so in its log.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
import sys
from pathlib import Path

from accord.errors import ConfigurationError
from accord.service.users import UserStore

log = logging.getLogger("accord.service")

SSL_VERIFY_PEER = 0x01
_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept_impl(preverify_ok: int, store_ctx: int | None) -> int:
    # Chain verification against a CA is meaningless for self-signed user certificates; proof of
    # key possession is part of the handshake and authorization is by fingerprint afterwards.
    return 1


_accept = _VERIFY_CALLBACK(_accept_impl)  # module-level: must outlive every SSL context


def _libssl_path() -> str | None:
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            if "libssl.so" in line:
                return line.split()[-1]
    except OSError:
        return None
    return None


def accept_any_client_certificate(ctx: ssl.SSLContext) -> bool:
    """Request client certificates on ``ctx`` and accept any; True on success."""
    if sys.implementation.name != "cpython" or not sys.platform.startswith("linux"):
        return False
    path = _libssl_path()
    if path is None:
        return False
    try:
        libssl = ctypes.CDLL(path)
        set_verify = libssl.SSL_CTX_set_verify
        set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VERIFY_CALLBACK]
        set_verify.restype = None
        get_verify_mode = libssl.SSL_CTX_get_verify_mode
        get_verify_mode.argtypes = [ctypes.c_void_p]
        get_verify_mode.restype = ctypes.c_int
        ctx.verify_mode = ssl.CERT_OPTIONAL  # Python sets SSL_VERIFY_PEER (without FAIL_IF_NO)
        header = ctypes.sizeof(ctypes.c_ssize_t) + ctypes.sizeof(ctypes.c_void_p)
        ssl_ctx = ctypes.c_void_p.from_address(id(ctx) + header).value
        # Sanity check that the pointer really is this context's SSL_CTX before writing to it.
        if not ssl_ctx or get_verify_mode(ssl_ctx) != SSL_VERIFY_PEER:
            return False
        set_verify(ssl_ctx, SSL_VERIFY_PEER, _accept)
    except (OSError, AttributeError, ValueError) as exc:
        log.warning("cannot install the client-certificate callback: %s", exc)
        return False
    return True


def make_ssl_context(
    cert_file: str, key_file: str, service_cert_file: str, users: UserStore
) -> ssl.SSLContext:
    """Server TLS context: the node certificate, and any client certificate accepted.

    Where Python cannot accept arbitrary client certificates, every registered user certificate
    is trusted instead (``service_cert_file`` is kept for callers; clients pin it, not the server).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the node certificate: {exc}") from exc
    if not accept_any_client_certificate(ctx):
        log.warning(
            "this Python cannot accept arbitrary client certificates; only users registered "
            "with their certificate (not just a fingerprint) can authenticate by mTLS"
        )
        ctx.verify_mode = ssl.CERT_OPTIONAL
        trust_user_certificates(ctx, users)
    return ctx


def trust_user_certificates(ctx: ssl.SSLContext, users: UserStore) -> None:
    """Add registered certificates to the context (new handshakes see them; no restart)."""
    pems = [u.cert_pem for u in users.all() if u.cert_pem]
    if pems:
        ctx.load_verify_locations(cadata="\n".join(pems))
