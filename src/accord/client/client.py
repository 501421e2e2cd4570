"""Typed Python clients for an accord service: :class:`AccordClient` (sync) and
:class:`AsyncAccordClient` (asyncio), both over httpx.

Both pin the service certificate (``service.crt``) as the only TLS trust anchor and authenticate
with a client certificate or a bearer token. Helpers named ``verified_*`` check what they fetch
against the ledger's checkpoint verifier key (``checkpoint.vkey``), so a caller who trusts only
those two files gets verified results, not the server's word.

``append_batch`` appends many entries in one request (``POST /app/transactions/batch``, all or
none, in order); it does not split a long sequence into several requests (the CLI's
``append --batch`` does). Connection failures and server errors raise StorageError; refusals
raise InvalidRequest/NotFound/AuthError (Conflict for a 409: a consortium governance action the
fold refused, a change that would leave no Administrator; EntryRedacted, naming the redaction
record, for the contents of an entry that ``redact`` erased).

On a consortium node, ``governance_state``, ``proposals``, ``proposal``, ``submit_action`` and
``policy`` read and change the replicated governance (``docs/formats.md`` §14); a single-node
ledger answers them NotFound. They send notes signed elsewhere (``accord.core.consortium``
builds and signs them): the client holds no member key.

Each API call is described once, as a :class:`_Call` (method, path, query, body, how to read the
answer); the two clients only differ in how they send it.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from accord.core.checkpoint import Checkpoint, open_checkpoint
from accord.core.note import Verifier
from accord.core.receipt import VerifiedReceipt, verify_receipt
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    Conflict,
    EntryRedacted,
    Gone,
    InvalidRequest,
    NotFound,
    StorageError,
)

API_VERSION = "2022-05-13"


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None  # sent as JSON
    content_type: str = "application/json"
    read: Callable[[httpx.Response], Any] = lambda r: r.json()
    text: str | None = None  # sent as UTF-8 text instead of a JSON body


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


BATCH_ENTRY_KEYS = frozenset({"contents", "collectionId", "tags"})


def batch_entry(entry: object) -> dict[str, Any]:
    """One entry of a batch append, checked: ``{"contents": str, "collectionId"?: str,
    "tags"?: [str, ...]}`` with valid collection id and tags. Raises InvalidRequest."""
    from accord.core.entry import validate_collection_id, validate_tags

    if not isinstance(entry, Mapping):
        raise InvalidRequest('an entry must be a JSON object with "contents"')
    unknown = sorted(str(k) for k in entry if k not in BATCH_ENTRY_KEYS)
    if unknown:
        raise InvalidRequest(
            f"unknown field {unknown[0]!r} (an entry has contents, collectionId, tags)"
        )
    contents = entry.get("contents")
    if not isinstance(contents, str):
        raise InvalidRequest('an entry needs "contents", a string')
    try:
        contents.encode("utf-8")  # the size limit is the service's to apply
    except UnicodeEncodeError:
        raise InvalidRequest("contents is not valid Unicode (lone surrogate)") from None
    out: dict[str, Any] = {"contents": contents}
    collection_id = entry.get("collectionId")
    if collection_id is not None:
        out["collectionId"] = validate_collection_id(collection_id)
    tags = entry.get("tags")
    if tags is not None:
        if not isinstance(tags, list):
            raise InvalidRequest('"tags" must be a list of strings')
        if tags:
            out["tags"] = list(validate_tags(tags))
    return out


def _read_transaction_ids(count: int) -> Callable[[httpx.Response], list[str]]:
    def read(response: httpx.Response) -> list[str]:
        try:
            ids = response.json()["transactionIds"]
        except (ValueError, KeyError, TypeError):
            ids = None
        if (
            not isinstance(ids, list)
            or len(ids) != count
            or not all(isinstance(i, str) for i in ids)
        ):
            raise StorageError(
                f"the service answered a batch of {count} entries without {count} transaction ids"
            )
        return ids

    return read


def _describe(exc: httpx.HTTPError) -> str:
    # httpx often has an empty message (a refused connection, a timeout): name the kind instead.
    return str(exc) or type(exc).__name__


def _transport_error(url: str, exc: httpx.HTTPError) -> AccordError:
    """A failed request: a TLS trust problem is the caller's configuration, not an outage."""
    text = _describe(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ConfigurationError(
            f"cannot verify the TLS certificate of {url} ({text}); pin the service certificate "
            "with --cacert DIR/service.crt (service_cert= in Python)"
        )
    return StorageError(f"cannot reach {url}: {text}")


def _error_message(response: httpx.Response) -> str:
    """What the service said went wrong: its error message, a refused action's reason, or text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("reason"), str):  # a governance action the fold refused
            txid = body.get("transactionId")
            return str(body["reason"]) + (f" (recorded as transaction {txid})" if txid else "")
    return response.text[:500] or response.reason_phrase


def _redaction_id(response: httpx.Response) -> str | None:
    """The redaction record a 410 names (``error.redactionTransactionId``), if it names one."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    value = error.get("redactionTransactionId") if isinstance(error, dict) else None
    return value if isinstance(value, str) else None


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    message = _error_message(response)
    if response.status_code == 404:
        raise NotFound(message)
    if response.status_code in (401, 403):
        raise AuthError(f"{response.status_code}: {message}")
    if response.status_code == 409:
        raise Conflict(message)
    if response.status_code == 410:
        redaction = _redaction_id(response)
        if redaction is not None:
            raise EntryRedacted(message, redaction_id=redaction)
        raise Gone(message)
    if response.status_code < 500:
        raise InvalidRequest(message)
    raise StorageError(f"service error {response.status_code}: {message}")


class _Calls:
    """Every API call as data, shared by the sync and async clients."""

    @staticmethod
    def append(contents: str, collection_id: str | None, tags: list[str] | None) -> _Call:
        query = {"api-version": API_VERSION}
        if collection_id:
            query["collectionId"] = collection_id
        if tags:
            query["tags"] = ",".join(tags)
        return _Call(
            "POST",
            "/app/transactions",
            query,
            {"contents": contents},
            read=lambda r: r.headers["x-ms-ccf-transaction-id"],
        )

    @staticmethod
    def append_batch(entries: Sequence[Mapping[str, Any]]) -> _Call:
        body = []
        for index, entry in enumerate(entries):
            try:
                body.append(batch_entry(entry))
            except InvalidRequest as exc:
                raise InvalidRequest(f"entries[{index}]: {exc}") from exc
        return _Call(
            "POST",
            "/app/transactions/batch",
            {"api-version": API_VERSION},
            {"entries": body},
            read=_read_transaction_ids(len(body)),
        )

    @staticmethod
    def entry(txid: str, collection_id: str | None) -> _Call:
        query = {"api-version": API_VERSION}
        if collection_id:
            query["collectionId"] = collection_id
        return _Call("GET", f"/app/transactions/{_quote(txid)}", query)

    @staticmethod
    def redact(txid: str, reason: str) -> _Call:
        return _Call(
            "POST",
            f"/app/transactions/{_quote(txid)}/redact",
            {"api-version": API_VERSION},
            {"reason": reason},
        )

    @staticmethod
    def current(collection_id: str | None) -> _Call:
        query = {"api-version": API_VERSION}
        if collection_id:
            query["collectionId"] = collection_id
        return _Call("GET", "/app/transactions/current", query)

    @staticmethod
    def list_page(collection_id: str | None, from_txid: str | None, to_txid: str | None) -> _Call:
        query = {"api-version": API_VERSION}
        for key, value in (
            ("collectionId", collection_id),
            ("fromTransactionId", from_txid),
            ("toTransactionId", to_txid),
        ):
            if value:
                query[key] = value
        return _Call("GET", "/app/transactions", query)

    @staticmethod
    def next_page(next_link: str) -> _Call:
        parsed = urllib.parse.urlparse(next_link)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        return _Call("GET", parsed.path, query)

    @staticmethod
    def status(txid: str) -> _Call:
        return _Call(
            "GET",
            f"/app/transactions/{_quote(txid)}/status",
            {"api-version": API_VERSION},
            read=lambda r: str(r.json()["state"]),
        )

    @staticmethod
    def ccf_receipt(txid: str) -> _Call:
        return _Call(
            "GET", f"/app/transactions/{_quote(txid)}/receipt", {"api-version": API_VERSION}
        )

    @staticmethod
    def accord_receipt(txid: str) -> _Call:
        return _Call("GET", f"/receipts/{_quote(txid)}")

    @staticmethod
    def checkpoint() -> _Call:
        return _Call("GET", "/checkpoint", read=lambda r: r.text)

    @staticmethod
    def tile(path: str) -> _Call:
        return _Call("GET", "/" + path.lstrip("/"), read=lambda r: r.content)

    @staticmethod
    def collections() -> _Call:
        return _Call(
            "GET",
            "/app/collections",
            {"api-version": API_VERSION},
            read=lambda r: [c["collectionId"] for c in r.json()["collections"]],
        )

    @staticmethod
    def get_user(user_id: str) -> _Call:
        return _Call("GET", f"/app/users/{_quote(user_id)}", {"api-version": API_VERSION})

    @staticmethod
    def list_users() -> _Call:
        return _Call(
            "GET", "/app/users", {"api-version": API_VERSION}, read=lambda r: r.json()["users"]
        )

    @staticmethod
    def set_user(user_id: str, role: str) -> _Call:
        return _Call(
            "PATCH",
            f"/app/users/{_quote(user_id)}",
            {"api-version": API_VERSION},
            {"assignedRole": role},
            content_type="application/merge-patch+json",
        )

    @staticmethod
    def delete_user(user_id: str) -> _Call:
        return _Call(
            "DELETE",
            f"/app/users/{_quote(user_id)}",
            {"api-version": API_VERSION},
            read=lambda r: None,
        )

    @staticmethod
    def get_json(path: str, query: dict[str, str] | None) -> _Call:
        return _Call("GET", path, dict(query or {}))

    # consortium governance
    @staticmethod
    def constitution() -> _Call:
        return _Call("GET", "/app/governance/constitution")

    @staticmethod
    def members() -> _Call:
        return _Call("GET", "/app/governance/members")

    @staticmethod
    def governance_state() -> _Call:
        return _Call("GET", "/app/governance/state")

    @staticmethod
    def proposals() -> _Call:
        return _Call("GET", "/app/governance/proposals", read=_read_proposals)

    @staticmethod
    def proposal(proposal_id: str) -> _Call:
        return _Call("GET", f"/app/governance/proposals/{_quote(proposal_id)}")

    @staticmethod
    def submit_action(note_text: str) -> _Call:
        if not isinstance(note_text, str):
            raise InvalidRequest("a governance action is the text of a signed note")
        return _Call(
            "POST",
            "/app/governance/actions",
            text=note_text,
            content_type="text/plain; charset=utf-8",
            read=_read_outcome,
        )

    @staticmethod
    def policy() -> _Call:
        return _Call("GET", "/app/governance/policy", read=lambda r: r.text)

    @staticmethod
    def private_collections() -> _Call:
        return _Call("GET", "/app/private/collections", read=lambda r: r.json()["collections"])

    @staticmethod
    def disclosure(txid: str) -> _Call:
        return _Call("GET", f"/app/private/disclosures/{_quote(txid)}")

    @staticmethod
    def purge(txid: str, reason: str) -> _Call:
        return _Call("POST", "/app/private/purge", body={"transactionId": txid, "reason": reason})

    @staticmethod
    def compute_programs() -> _Call:
        return _Call("GET", "/app/compute/programs", read=lambda r: r.json()["programs"])

    @staticmethod
    def compute_propose(body: dict[str, Any]) -> _Call:
        return _Call("POST", "/app/compute/jobs", body=body, read=lambda r: r.json()["jobId"])

    @staticmethod
    def compute_jobs() -> _Call:
        return _Call("GET", "/app/compute/jobs", read=lambda r: r.json()["jobs"])

    @staticmethod
    def compute_job(job_id: str) -> _Call:
        return _Call("GET", f"/app/compute/jobs/{_quote(job_id)}")

    @staticmethod
    def compute_accept(job_id: str, body: dict[str, Any]) -> _Call:
        return _Call("POST", f"/app/compute/jobs/{_quote(job_id)}/accept", body=body)

    @staticmethod
    def compute_decline(job_id: str, reason: str) -> _Call:
        return _Call("POST", f"/app/compute/jobs/{_quote(job_id)}/decline", body={"reason": reason})

    @staticmethod
    def compute_private(job_id: str) -> _Call:
        return _Call("GET", f"/app/compute/jobs/{_quote(job_id)}/private")


def _read_proposals(response: httpx.Response) -> list[dict[str, Any]]:
    proposals = response.json().get("proposals")
    if not isinstance(proposals, list):
        raise StorageError("the service answered the proposals without a list of proposals")
    return proposals


def _read_outcome(response: httpx.Response) -> dict[str, Any]:
    outcome = response.json()
    if not isinstance(outcome, dict) or outcome.get("accepted") is not True:
        # 200 is only for an accepted action: anything else is not the service's documented answer
        raise StorageError(f"the service answered an accepted action with {response.text[:200]!r}")
    return outcome


def _client_kwargs(
    url: str,
    service_cert: str | None,
    cert: str | None,
    key: str | None,
    token: str | None,
    timeout: float,
) -> dict[str, Any]:
    if urllib.parse.urlparse(url).scheme != "https":
        raise ConfigurationError(f"the service URL must be https://, got {url!r}")
    if cert and not key:
        raise ConfigurationError("--cert needs --key")
    import ssl

    try:
        ctx = ssl.create_default_context(cafile=service_cert)
        if cert:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load TLS files (service cert={service_cert}, cert={cert}, key={key}): {exc}"
        ) from exc
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {"base_url": url.rstrip("/"), "verify": ctx, "headers": headers, "timeout": timeout}


def _request_kwargs(call: _Call) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"params": call.query}
    if call.text is not None:
        try:
            kwargs["content"] = call.text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest("the text to send is not valid Unicode (lone surrogate)") from None
        kwargs["headers"] = {"Content-Type": call.content_type}
    elif call.body is not None:
        import json

        kwargs["content"] = json.dumps(call.body).encode()
        kwargs["headers"] = {"Content-Type": call.content_type}
    return kwargs


class _ClientBase:
    """Connection settings shared by the sync and async clients."""

    def __init__(
        self,
        url: str,
        *,
        service_cert: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        token: str | None = None,
        verifier: Verifier | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.url = url
        self.verifier = verifier
        self._open(_client_kwargs(url, service_cert, cert, key, token, timeout))

    def _open(self, http_kwargs: dict[str, Any]) -> None:
        raise NotImplementedError

    def _verifier(self) -> Verifier:
        if self.verifier is None:
            raise ConfigurationError("this needs the ledger's verifier key (checkpoint.vkey)")
        return self.verifier


class AccordClient(_ClientBase):
    """Synchronous client. Use as a context manager or call :meth:`close`."""

    def _open(self, http_kwargs: dict[str, Any]) -> None:
        self._http = httpx.Client(**http_kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AccordClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, call: _Call) -> Any:
        try:
            response = self._http.request(call.method, call.path, **_request_kwargs(call))
        except httpx.HTTPError as exc:
            raise _transport_error(self.url, exc) from exc
        _raise_for(response)
        return call.read(response)

    # entries
    def append(
        self, contents: str, collection_id: str | None = None, tags: list[str] | None = None
    ) -> str:
        return str(self._run(_Calls.append(contents, collection_id, tags)))

    def append_batch(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """Append ``entries`` in one request, in order; their transaction ids, in the same order.

        Each entry is ``{"contents": str, "collectionId"?: str, "tags"?: [str, ...]}``. The service
        writes all or none of them and refuses more than its limit per request (1,000 entries by
        default): split longer sequences. Raises InvalidRequest naming ``entries[i]``.
        """
        if not entries:
            return []
        return list(self._run(_Calls.append_batch(entries)))

    def entry(self, txid: str, collection_id: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._run(_Calls.entry(txid, collection_id))
        return result

    def current(self, collection_id: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._run(_Calls.current(collection_id))
        return result

    def list_entries(
        self,
        collection_id: str | None = None,
        from_txid: str | None = None,
        to_txid: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        page = self._run(_Calls.list_page(collection_id, from_txid, to_txid))
        while True:
            yield from page.get("entries", [])
            if not page.get("nextLink"):
                return
            page = self._run(_Calls.next_page(page["nextLink"]))

    def status(self, txid: str) -> str:
        return str(self._run(_Calls.status(txid)))

    def wait_for_commit(self, txid: str, timeout: float = 30.0, interval: float = 0.05) -> None:
        import time

        deadline = time.monotonic() + timeout
        while self.status(txid) != "Committed":
            if time.monotonic() > deadline:
                raise StorageError(f"transaction {txid} not committed within {timeout} s")
            time.sleep(interval)

    def collections(self) -> list[str]:
        return list(self._run(_Calls.collections()))

    def redact(self, txid: str, reason: str) -> dict[str, Any]:
        """Erase entry ``txid``'s contents on a single-node ledger (an Administrator):
        ``{"transactionId": <the redaction record>, "redactedTransactionId": txid}``."""
        result: dict[str, Any] = self._run(_Calls.redact(txid, reason))
        return result

    # receipts and checkpoints
    def receipt(self, txid: str) -> dict[str, Any]:
        """The Azure/CCF-format receipt response."""
        result: dict[str, Any] = self._run(_Calls.ccf_receipt(txid))
        return result

    def accord_receipt(self, txid: str) -> dict[str, Any]:
        result: dict[str, Any] = self._run(_Calls.accord_receipt(txid))
        return result

    def verified_receipt(self, txid: str, contents: bytes | None = None) -> VerifiedReceipt:
        return verify_receipt(self.accord_receipt(txid), self._verifier(), contents=contents)

    def checkpoint(self) -> str:
        return str(self._run(_Calls.checkpoint()))

    def verified_checkpoint(self) -> Checkpoint:
        return open_checkpoint(self.checkpoint(), self._verifier())

    def tile(self, path: str) -> bytes:
        return bytes(self._run(_Calls.tile(path)))

    def get_json(self, path: str, query: dict[str, str] | None = None) -> Any:
        return self._run(_Calls.get_json(path, query))

    # users
    def get_user(self, user_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._run(_Calls.get_user(user_id))
        return result

    def list_users(self) -> list[dict[str, Any]]:
        return list(self._run(_Calls.list_users()))

    def set_user(self, user_id: str, role: str) -> dict[str, Any]:
        result: dict[str, Any] = self._run(_Calls.set_user(user_id, role))
        return result

    def delete_user(self, user_id: str) -> None:
        self._run(_Calls.delete_user(user_id))

    # consortium governance (a single-node ledger answers NotFound)
    def constitution(self) -> dict[str, Any]:
        """The constitution: on a consortium node the live replicated one (``constitution``)."""
        result: dict[str, Any] = self._run(_Calls.constitution())
        return result

    def members(self) -> dict[str, Any]:
        """The members; on a consortium node also its nodes and ``cosignQuorum``."""
        result: dict[str, Any] = self._run(_Calls.members())
        return result

    def governance_state(self) -> dict[str, Any]:
        """The replicated consortium state (``docs/formats.md`` §14.8)."""
        result: dict[str, Any] = self._run(_Calls.governance_state())
        return result

    def proposals(self) -> list[dict[str, Any]]:
        """Every proposal the state remembers, oldest first."""
        return list(self._run(_Calls.proposals()))

    def proposal(self, proposal_id: str) -> dict[str, Any]:
        """One proposal; NotFound if unknown."""
        result: dict[str, Any] = self._run(_Calls.proposal(proposal_id))
        return result

    def submit_action(self, note_text: str) -> dict[str, Any]:
        """Submit a member-signed governance note; the accepted outcome.

        ``{"accepted": True, "reason", "proposalId", "proposalState", "transactionId"}``. A note
        the consortium's fold refused (a bad signature, a stale or replayed note, a ballot on a
        closed proposal, ...) raises :class:`~accord.errors.Conflict` with the reason: a refusal
        is never returned as data that a caller could forget to check.
        """
        result: dict[str, Any] = self._run(_Calls.submit_action(note_text))
        return result

    def policy(self) -> str:
        """The C2SP tlog-policy in force (what ``accord verify --policy`` checks against)."""
        return str(self._run(_Calls.policy()))

    # private collections (a consortium node)
    def private_collections(self) -> list[dict[str, Any]]:
        """Every private collection: ``collectionId``, ``readers``, ``retentionMs``, ``since``."""
        return list(self._run(_Calls.private_collections()))

    def disclosure(self, txid: str) -> dict[str, Any]:
        """A private entry's disclosure (``accord.disclosure.v1``), for a reader's user: its
        receipt, public record, contents and salt, which anyone checks offline."""
        result: dict[str, Any] = self._run(_Calls.disclosure(txid))
        return result

    def purge(self, txid: str, reason: str) -> dict[str, Any]:
        """Erase a private entry's contents on every node that holds them (an Administrator of a
        reader organization); the purge record's ``transactionId``."""
        result: dict[str, Any] = self._run(_Calls.purge(txid, reason))
        return result

    # joint computations (a consortium node)
    def compute_programs(self) -> list[dict[str, Any]]:
        """The catalogue of joint-computation programs."""
        return list(self._run(_Calls.compute_programs()))

    def compute_propose(
        self,
        program: str,
        participants: Sequence[str],
        *,
        params: Mapping[str, int] | None = None,
        inputs: Mapping[str, Mapping[str, str]] | None = None,
        timeout_ms: int | None = None,
    ) -> str:
        """Propose a job (an Administrator); its job id. ``inputs`` maps a participant to
        ``{"kind": "entries", "collectionId": C, "field": F}`` to read its input from its private
        entries (default: a value it submits when it accepts)."""
        body: dict[str, Any] = {"program": program, "participants": list(participants)}
        if params:
            body["params"] = dict(params)
        if inputs:
            body["inputs"] = {k: dict(v) for k, v in inputs.items()}
        if timeout_ms is not None:
            body["timeoutMs"] = timeout_ms
        return str(self._run(_Calls.compute_propose(body)))

    def compute_jobs(self) -> list[dict[str, Any]]:
        return list(self._run(_Calls.compute_jobs()))

    def compute_job(self, job_id: str) -> dict[str, Any]:
        """A job's state and provenance (``docs/formats.md`` §21)."""
        result: dict[str, Any] = self._run(_Calls.compute_job(job_id))
        return result

    def compute_accept(self, job_id: str, value: Sequence[Any] | None = None) -> str:
        """Accept a job for this organization, committing to ``value`` (None: the job reads its
        input from the organization's private entries); the accept record's transaction id."""
        body = {} if value is None else {"input": list(value)}
        return str(self._run(_Calls.compute_accept(job_id, body))["transactionId"])

    def compute_decline(self, job_id: str, reason: str) -> str:
        return str(self._run(_Calls.compute_decline(job_id, reason))["transactionId"])

    def compute_private(self, job_id: str) -> dict[str, Any]:
        """What this organization's party learnt beyond the recorded result (psi's items)."""
        result: dict[str, Any] = self._run(_Calls.compute_private(job_id))
        return result

    def wait_for_job(self, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Poll a job until it ends (completed, failed, declined, expired); TimeoutError if not."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.compute_job(job_id)
            if job["state"] in ("completed", "failed", "declined", "expired"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['state']} after {timeout:g} s")
            time.sleep(0.25)


class AsyncAccordClient(_ClientBase):
    """The same API for asyncio callers."""

    def _open(self, http_kwargs: dict[str, Any]) -> None:
        self._http = httpx.AsyncClient(**http_kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncAccordClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, call: _Call) -> Any:
        try:
            response = await self._http.request(call.method, call.path, **_request_kwargs(call))
        except httpx.HTTPError as exc:
            raise _transport_error(self.url, exc) from exc
        _raise_for(response)
        return call.read(response)

    async def append(
        self, contents: str, collection_id: str | None = None, tags: list[str] | None = None
    ) -> str:
        return str(await self._run(_Calls.append(contents, collection_id, tags)))

    async def append_batch(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """Append ``entries`` in one request; see :meth:`AccordClient.append_batch`."""
        if not entries:
            return []
        return list(await self._run(_Calls.append_batch(entries)))

    async def entry(self, txid: str, collection_id: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.entry(txid, collection_id))
        return result

    async def list_entries(
        self,
        collection_id: str | None = None,
        from_txid: str | None = None,
        to_txid: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        page = await self._run(_Calls.list_page(collection_id, from_txid, to_txid))
        while True:
            for item in page.get("entries", []):
                yield item
            if not page.get("nextLink"):
                return
            page = await self._run(_Calls.next_page(page["nextLink"]))

    async def status(self, txid: str) -> str:
        return str(await self._run(_Calls.status(txid)))

    async def redact(self, txid: str, reason: str) -> dict[str, Any]:
        """See :meth:`AccordClient.redact`."""
        result: dict[str, Any] = await self._run(_Calls.redact(txid, reason))
        return result

    async def receipt(self, txid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.ccf_receipt(txid))
        return result

    async def verified_receipt(self, txid: str, contents: bytes | None = None) -> VerifiedReceipt:
        data = await self._run(_Calls.accord_receipt(txid))
        return verify_receipt(data, self._verifier(), contents=contents)

    async def verified_checkpoint(self) -> Checkpoint:
        return open_checkpoint(await self._run(_Calls.checkpoint()), self._verifier())

    async def checkpoint(self) -> str:
        return str(await self._run(_Calls.checkpoint()))

    # consortium governance: see AccordClient
    async def constitution(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.constitution())
        return result

    async def members(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.members())
        return result

    async def governance_state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.governance_state())
        return result

    async def proposals(self) -> list[dict[str, Any]]:
        return list(await self._run(_Calls.proposals()))

    async def proposal(self, proposal_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.proposal(proposal_id))
        return result

    async def submit_action(self, note_text: str) -> dict[str, Any]:
        """See :meth:`AccordClient.submit_action` (a refused note raises Conflict)."""
        result: dict[str, Any] = await self._run(_Calls.submit_action(note_text))
        return result

    async def policy(self) -> str:
        return str(await self._run(_Calls.policy()))

    async def private_collections(self) -> list[dict[str, Any]]:
        return list(await self._run(_Calls.private_collections()))

    async def disclosure(self, txid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.disclosure(txid))
        return result

    async def purge(self, txid: str, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(_Calls.purge(txid, reason))
        return result
