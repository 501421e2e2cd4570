"""One party of a joint computation, as a subprocess: ``python -m accord.compute.party CONFIG.json``.

The node writes CONFIG (mode 0600) and starts this process (:func:`run_party_subprocess` does
both); the process runs one MPyC party of the job and prints exactly one JSON line on stdout.

CONFIG (JSON object)::

    {"program": "sum", "programSha256": "<hex>", "params": {...},
     "index": 0,                                   # this party, 0-based in participant order
     "parties": [{"host": "127.0.0.1", "port": 12345, "tlsCertSha256": "<SHA-256 of the DER>"},
                 ...],                             # every party, in participant order
     "cert": "node.pem", "key": "node.key",        # this party's PEM certificate and key
     "ca": "service.pem",                          # the CA that issued every party's certificate
     "input": [...],                               # this party's input (catalogue.check_inputs)
     "timeoutSeconds": 60,
     "listenHost": "127.0.0.1"}                    # optional; default: every interface

Fingerprints are 64 hex digits (either case; ``AB:CD:…`` colons allowed). Set sizes and, for
``mean``/``variance``, the total count are public; see :mod:`accord.compute.catalogue`.

A failed party exits without telling anyone: the peers connected to it fail at once ("lost the
connection to party i"), the others at their own timeout (parties connect in index order, and
one that gave up does not dial the rest).

Output, one line on stdout:

- success (exit 0): ``{"result": {...}, "private": {...}, "elapsedSeconds": 1.234, "mpyc":
  "0.11"}`` — ``private`` only for ``psi`` (the intersection items, for this node only, never for
  a ledger); ``elapsedSeconds`` from reading CONFIG to the end of MPyC's shutdown;
- failure: ``{"error": "<one line>"}``, the same line on stderr after ``accord.compute.party:``,
  exit status 2 when the job is refused before any connection (bad CONFIG, a program digest other
  than this node's catalogue's, an input or parameter out of bounds) and 1 when the run failed (a
  peer refused or unpinned, a peer dropped out, the timeout passed). No result is ever printed
  unless MPyC's shutdown — a final synchronization of every party — completed.

TLS and pinning
---------------
MPyC's own ``--ssl`` cannot be used as is: it reads fixed files from ``./.config``
(``party_<i>.crt``, ``party_<i>.key``, ``mpyc_ca.crt``), checks the peer's host name against
``"MPyC party <i>"`` and knows nothing of fingerprints. So this runner sets ``sys.argv`` before
importing MPyC (which parses it at import: ``-P host:port`` per party, ``-I index``, ``-K``,
``--no-log``) and, instead of ``mpc.start()``, runs :func:`_start_pinned`: the same connection
set-up as ``Runtime.start`` of MPyC 0.11 (party *i* listens for parties < *i* and connects to
parties > *i*; a connecting party first sends its index and its PRSS keys) with

- our TLS contexts: TLS 1.3, each side presents its certificate and requires the peer's, verified
  against CONFIG's ``ca``; host names are not checked — the pin below is stronger;
- a pin check in ``connection_made`` of a subclass of MPyC's ``MessageExchanger``, before any
  byte is sent: the connecting side requires the SHA-256 of the listener's DER certificate to
  equal the pin of the party it dialled; the listening side looks the client's fingerprint up
  among the parties that connect to it and, when the client announces its index, requires that
  index to be the one pinned to the certificate. A certificate the CA issued but that no pin
  names — or a pin mismatch either way — fails the run at once, so the CA alone cannot stand in
  for a party.

The subclass also turns a lost connection into a failure of the run (MPyC would wait forever),
except for the closes of MPyC's own shutdown. MPyC's ``transfer`` (used by its shutdown and by
``intersection-size`` and ``psi``) unpickles what peers send; this runner replaces it on the
runtime with the same protocol over JSON, so a peer cannot make this process unpickle anything
(MPyC unpickles peers' data nowhere else unless secure NumPy arrays are used; no program does).
This relies on MPyC 0.11 internals, hence the ``mpyc>=0.11,<0.12`` pin.

Trust model: MPyC is secure against a minority of honest-but-curious parties; the TLS layer only
makes sure the parties are who the job says they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import math
import os
import re
import ssl
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from accord.compute import ComputeError
from accord.compute.catalogue import (
    MPYC_SEC_PARAM,
    Outcome,
    Program,
    check_inputs,
    check_params,
    check_party_count,
    get_program,
)
from accord.errors import AccordError, ConfigurationError, InvalidRequest

MAX_TIMEOUT_SECONDS = 24 * 3600
EXIT_REFUSED = 2
EXIT_FAILED = 1
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_COLON_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$")


@dataclass(frozen=True)
class PeerAddress:
    host: str
    port: int
    cert_sha256: str  # lower-case hex


@dataclass(frozen=True)
class PartyConfig:
    program: Program
    params: dict[str, int]
    index: int
    parties: tuple[PeerAddress, ...]
    cert: Path
    key: Path
    ca: Path
    input: list[int] | list[str]
    timeout: float
    listen_host: str | None


def _fingerprint(value: object, where: str) -> str:
    if isinstance(value, str) and _COLON_HEX.match(value):
        value = value.replace(":", "")
    if not isinstance(value, str) or not _HEX64.match(value):
        raise InvalidRequest(f"{where} must be a SHA-256 fingerprint (64 hex digits)")
    return value.lower()


def parse_config(data: object) -> PartyConfig:
    """CONFIG, checked against the local catalogue; raises an :class:`AccordError` naming why not.

    A program digest other than the catalogue's is a :class:`ComputeError`; anything else wrong
    is an :class:`InvalidRequest` (or :class:`NotFound` for an unknown program).
    """
    if not isinstance(data, dict):
        raise InvalidRequest("the party configuration must be a JSON object")
    program = get_program(data.get("program"))
    digest = data.get("programSha256")
    if not isinstance(digest, str) or digest.lower() != program.sha256:
        raise ComputeError(
            f"refused: the job's program {program.id} has programSha256 {digest!r} but this"
            f" node's catalogue has {program.sha256} (different accord versions?)"
        )
    params = check_params(program, data.get("params"))

    raw_parties = data.get("parties")
    if not isinstance(raw_parties, list):
        raise InvalidRequest("parties must be a list of {host, port, tlsCertSha256}")
    check_party_count(program, len(raw_parties))
    parties = []
    for i, entry in enumerate(raw_parties):
        if not isinstance(entry, dict):
            raise InvalidRequest(f"parties[{i}] must be an object")
        host, port = entry.get("host"), entry.get("port")
        if not isinstance(host, str) or not host or len(host) > 253:
            raise InvalidRequest(f"parties[{i}].host must be a host name or address")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidRequest(f"parties[{i}].port must be a TCP port number")
        pin = _fingerprint(entry.get("tlsCertSha256"), f"parties[{i}].tlsCertSha256")
        parties.append(PeerAddress(host, port, pin))
    if len({p.cert_sha256 for p in parties}) != len(parties):
        raise InvalidRequest("two parties are pinned to the same certificate")

    index = data.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(parties):
        raise InvalidRequest(f"index must be an integer in [0, {len(parties)})")
    paths = {}
    for name in ("cert", "key", "ca"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidRequest(f"{name} must be the path of a PEM file")
        paths[name] = Path(value)
    timeout = data.get("timeoutSeconds")
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= MAX_TIMEOUT_SECONDS
    ):
        raise InvalidRequest(f"timeoutSeconds must be a number in (0, {MAX_TIMEOUT_SECONDS}]")
    listen_host = data.get("listenHost")
    if listen_host is not None and not isinstance(listen_host, str):
        raise InvalidRequest("listenHost must be a string")
    if "input" not in data:
        raise InvalidRequest("input is missing")
    return PartyConfig(
        program=program,
        params=params,
        index=index,
        parties=tuple(parties),
        cert=paths["cert"],
        key=paths["key"],
        ca=paths["ca"],
        input=check_inputs(program, data["input"]),
        timeout=float(timeout),
        listen_host=listen_host or None,
    )


def tls_contexts(config: PartyConfig) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(listening context, connecting context): mutual TLS 1.3 against CONFIG's CA.

    Host names are not checked (the fingerprint pin is); this party's own certificate must be
    the one pinned for its index, so a misconfigured node fails here rather than at its peers.
    """
    contexts = []
    for purpose in (ssl.Purpose.CLIENT_AUTH, ssl.Purpose.SERVER_AUTH):
        context = ssl.create_default_context(purpose)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_cert_chain(config.cert, keyfile=config.key)
            context.load_verify_locations(cafile=config.ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(
                f"cannot load the TLS certificate {config.cert}, key {config.key} or CA"
                f" {config.ca}: {exc}"
            ) from exc
        contexts.append(context)
    try:
        der = ssl.PEM_cert_to_DER_cert(config.cert.read_text("ascii"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the certificate {config.cert}: {exc}") from exc
    own = hashlib.sha256(der).hexdigest()
    if own != config.parties[config.index].cert_sha256:
        raise InvalidRequest(
            f"this party's certificate {config.cert} has SHA-256 {own}, not the"
            f" {config.parties[config.index].cert_sha256} pinned for party {config.index}"
        )
    return contexts[0], contexts[1]


class _Session:
    """What the connections of one run share: the pins, and the first failure."""

    def __init__(self, config: PartyConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.failed: asyncio.Future[str] = loop.create_future()
        self.shutting_down = False
        self.accepted: set[int] = set()

    def fail(self, message: str) -> None:
        if not self.failed.done():
            self.failed.set_result(message)

    def authenticate(self, transport: asyncio.BaseTransport, dialled: int | None) -> int:
        """The index of the peer on this TLS connection, by its pinned certificate."""
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise ComputeError("a peer connected without a TLS certificate")
        fingerprint = hashlib.sha256(der).hexdigest()
        parties = self.config.parties
        if dialled is not None:
            expected = parties[dialled]
            if fingerprint != expected.cert_sha256:
                raise ComputeError(
                    f"refused party {dialled} at {expected.host}:{expected.port}: its certificate"
                    f" has SHA-256 {fingerprint}, not the pinned {expected.cert_sha256}"
                )
            return dialled
        me = self.config.index
        for j in range(me):  # only parties before this one connect to it
            if parties[j].cert_sha256 == fingerprint:
                if j in self.accepted:
                    raise ComputeError(f"party {j} connected twice")
                self.accepted.add(j)
                return j
        raise ComputeError(
            f"refused a peer whose certificate (SHA-256 {fingerprint}) is pinned to none of the"
            f" parties 0..{me - 1} that connect to party {me}"
        )


def _exchanger_class(base: type, session: _Session) -> type:
    """MPyC's MessageExchanger with the pin checks and drop-out detection (module docstring)."""

    class PinnedExchanger(base):  # type: ignore[misc]
        def __init__(self, rt: Any, peer_pid: int | None = None) -> None:
            super().__init__(rt, peer_pid)
            self.pinned: int | None = None
            self.closing = False

        def connection_made(self, transport: Any) -> None:
            try:
                self.pinned = session.authenticate(transport, self.peer_pid)
            except ComputeError as exc:
                session.fail(str(exc))
                transport.abort()
                return
            super().connection_made(transport)

        def data_received(self, data: bytes) -> None:
            if self.pinned is None:
                return
            if self.peer_pid is None and len(self.bytes) + len(data) >= 2:
                announced = int.from_bytes((bytes(self.bytes) + data[:2])[:2], "little")
                if announced != self.pinned:
                    session.fail(
                        f"refused a peer: it announced itself as party {announced} with the"
                        f" certificate pinned for party {self.pinned}"
                    )
                    self.pinned = None
                    self.transport.abort()
                    return
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.pinned is None:
                return
            # In MPyC's shutdown each party closes its connections to the later parties after
            # the final synchronization; those closes are the only expected ones.
            expected = self.closing or (
                session.shutting_down and exc is None and self.pinned < session.config.index
            )
            if expected:
                if self.peer_pid is not None:
                    self.runtime.unset_protocol(self.peer_pid)
                return
            reason = f": {exc}" if exc else ""
            session.fail(f"lost the connection to party {self.pinned}{reason}")

        def close_connection(self) -> None:
            self.closing = True
            super().close_connection()

    return PinnedExchanger


async def _start_pinned(
    rt: Any,
    session: _Session,
    exchanger: type,
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
) -> None:
    """MPyC 0.11's ``Runtime.start`` with our TLS contexts and pinned exchanger."""
    loop = asyncio.get_running_loop()
    me = rt.pid
    for peer in rt.parties:
        peer.protocol = loop.create_future() if peer.pid == me else None
    server = None
    if me:
        server = await loop.create_server(
            functools.partial(exchanger, rt),
            host=session.config.listen_host,
            port=rt.parties[me].port,
            ssl=server_context,
            reuse_address=True,
        )
    for peer in rt.parties[me + 1 :]:
        while not session.failed.done():
            try:
                await loop.create_connection(
                    functools.partial(exchanger, rt, peer.pid),
                    peer.host,
                    peer.port,
                    ssl=client_context,
                    ssl_handshake_timeout=10,
                )
                break
            except ssl.SSLError as exc:  # not worth retrying: the peer's certificate is wrong
                raise ComputeError(
                    f"TLS with party {peer.pid} at {peer.host}:{peer.port} failed: {exc}"
                ) from exc
            except OSError:  # not listening yet
                await asyncio.sleep(0.1)
    await rt.parties[me].protocol  # every peer connected
    if server is not None:
        server.close()
    rt.start_time = time.time()


def _install_json_transfer(rt: Any, asyncoro: Any) -> None:
    """Replace ``rt.transfer`` (pickle) with the same all-to-all exchange over JSON."""

    # No return annotation: MPyC's mpc_coro would take it for the result type.
    async def transfer(obj: object, senders: object = None, receivers: object = None):  # type: ignore[no-untyped-def]
        await asyncoro.returnType(asyncio.Future)
        m = len(rt.parties)
        single = isinstance(senders, int)
        from_ = range(m) if senders is None else [senders] if single else list(senders)  # type: ignore[call-overload]
        to = (
            range(m)
            if receivers is None
            else [receivers]
            if isinstance(receivers, int)
            else list(receivers)  # type: ignore[call-overload]
        )
        my_senders = from_ if rt.pid in to else []
        my_receivers = to if rt.pid in from_ else []
        encoded = json.dumps(obj, separators=(",", ":")).encode() if my_receivers else b""
        for peer in my_receivers:
            if peer != rt.pid:
                rt._send_message(peer, encoded)
        received = [encoded if peer == rt.pid else rt._receive_message(peer) for peer in my_senders]
        received = await rt.gather(received)
        try:
            values = [json.loads(bytes(data)) for data in received]
        except (ValueError, UnicodeDecodeError) as exc:
            raise ComputeError(f"a peer sent a message that is not JSON: {exc}") from exc
        return values[0] if single else values

    rt.transfer = asyncoro.mpc_coro(transfer)


def _mpyc_argv(config: PartyConfig) -> list[str]:
    argv = ["accord-compute-party", "--no-log", "-K", str(MPYC_SEC_PARAM), "-I", str(config.index)]
    for party in config.parties:
        host = f"[{party.host}]" if ":" in party.host else party.host
        argv += ["-P", f"{host}:{party.port}"]
    return argv


def _import_mpyc(config: PartyConfig) -> tuple[Any, Any, str]:
    """Import MPyC with our options in ``sys.argv``; (runtime, asyncoro module, version)."""
    for name in [n for n in os.environ if n.startswith("MPYC_")]:
        del os.environ[name]  # our options only
    saved = sys.argv
    sys.argv = _mpyc_argv(config)
    try:
        import mpyc
        from mpyc import asyncoro
        from mpyc.runtime import mpc
    except ImportError as exc:
        raise ComputeError(f"MPyC did not start: {exc}") from exc
    finally:
        sys.argv = saved
    for party in mpc.parties:  # MPyC keeps "[::1]" as given; asyncio wants the bare address
        if party.host.startswith("[") and party.host.endswith("]"):
            party.host = party.host[1:-1]
    return mpc, asyncoro, str(mpyc.__version__)


async def _run(
    config: PartyConfig,
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    mpc: Any,
    asyncoro: Any,
    deadline: float,
    loop_errors: list[str],
) -> Outcome:
    loop = asyncio.get_running_loop()
    session = _Session(config, loop)
    original_handler = loop.get_exception_handler()

    def on_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # An exception inside an MPyC coroutine surfaces here, in a done callback, and MPyC then
        # stops the loop: remember it for the error line.
        exc = context.get("exception")
        if exc is not None and "handle" in context:
            loop_errors.append(f"{type(exc).__name__}: {exc}")
            session.fail(f"MPyC failed: {type(exc).__name__}: {exc}")
        if original_handler is not None:
            original_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(on_loop_exception)
    server_context, client_context = contexts
    exchanger = _exchanger_class(asyncoro.MessageExchanger, session)
    _install_json_transfer(mpc, asyncoro)

    async def work() -> Outcome:
        await _start_pinned(mpc, session, exchanger, server_context, client_context)
        outcome = await config.program.mpc(mpc, config.input, config.params)
        session.shutting_down = True
        await mpc.shutdown()
        return outcome

    task = asyncio.ensure_future(work())
    remaining = max(0.0, deadline - time.monotonic())
    waited: set[asyncio.Future[Any]] = {task, session.failed}
    done, _ = await asyncio.wait(waited, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
    if session.failed.done():  # a failure wins over a result that raced it
        raise ComputeError(session.failed.result())
    if task in done:
        return task.result()
    raise ComputeError(f"timed out after {config.timeout:g} s")


def _emit(out: TextIO, answer: Mapping[str, Any]) -> None:
    out.write(json.dumps(answer, separators=(",", ":")) + "\n")
    out.flush()


def _fail(out: TextIO, message: str, status: int) -> int:
    line = " ".join(message.split())  # one line
    print(f"accord.compute.party: {line}", file=sys.stderr, flush=True)
    _emit(out, {"error": line})
    return status


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = sys.argv[1:] if argv is None else argv
    # Only our one JSON line goes to the real stdout: MPyC and asyncio print on stdout at times.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if len(args) != 1:
        return _fail(out, "usage: python -m accord.compute.party CONFIG.json", EXIT_REFUSED)
    try:
        data = json.loads(Path(args[0]).read_bytes())
    except (OSError, ValueError) as exc:
        return _fail(out, f"cannot read the configuration {args[0]}: {exc}", EXIT_REFUSED)
    try:
        config = parse_config(data)
        contexts = tls_contexts(config)  # refuse bad certificates before connecting anyone
    except AccordError as exc:
        return _fail(out, str(exc), EXIT_REFUSED)
    deadline = started + config.timeout
    loop_errors: list[str] = []
    try:
        mpc, asyncoro, version = _import_mpyc(config)
        outcome = mpc.run(_run(config, contexts, mpc, asyncoro, deadline, loop_errors))
    except AccordError as exc:
        return _fail(out, str(exc), EXIT_FAILED)
    except Exception as exc:
        traceback.print_exc()
        if loop_errors:  # MPyC stopped the loop after an exception in one of its coroutines
            return _fail(out, f"MPyC failed: {loop_errors[0]}", EXIT_FAILED)
        return _fail(out, f"the party failed: {type(exc).__name__}: {exc}", EXIT_FAILED)
    answer: dict[str, Any] = {"result": outcome.result}
    if outcome.private is not None:
        answer["private"] = outcome.private
    answer["elapsedSeconds"] = round(time.monotonic() - started, 3)
    answer["mpyc"] = version
    _emit(out, answer)
    return 0


async def run_party_subprocess(
    config: Mapping[str, Any], *, timeout: float, grace: float = 5.0
) -> dict[str, Any]:
    """Run one party of a job as ``python -m accord.compute.party``; its parsed output line.

    ``config`` is CONFIG (module docstring); ``timeoutSeconds`` defaults to ``timeout``. The
    file is written 0600 in a private temporary directory, removed afterwards. The process is
    killed if it is still running ``grace`` seconds after ``timeout``. Raises
    :class:`ComputeError` with the party's message when it fails or refuses.
    """
    config = dict(config)
    config.setdefault("timeoutSeconds", timeout)
    with tempfile.TemporaryDirectory(prefix="accord-party-") as directory:
        path = Path(directory) / "config.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(config).encode("utf-8"))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "accord.compute.party",
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=directory,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout + grace)
        except TimeoutError:
            await _kill(process)
            raise ComputeError(
                f"the party process was still running {timeout + grace:g} s after it started;"
                " killed"
            ) from None
        except asyncio.CancelledError:
            await _kill(process)
            raise
    return _parse_output(process.returncode, stdout, stderr)


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


def _parse_output(status: int | None, stdout: bytes, stderr: bytes) -> dict[str, Any]:
    lines = [line for line in stdout.decode("utf-8", "replace").splitlines() if line.strip()]
    answer: object = None
    if lines:
        try:
            answer = json.loads(lines[-1])
        except ValueError:
            answer = None
    if status == 0 and isinstance(answer, dict) and "result" in answer:
        return answer
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        raise ComputeError(answer["error"])
    tail = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    detail = tail[-1] if tail else "no output"
    raise ComputeError(f"the party process exited with status {status}: {detail}")


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # not sys.exit: MPyC may leave tasks and transports behind
