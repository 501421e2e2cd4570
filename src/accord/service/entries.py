"""Ledger entries over HTTP (Azure Confidential Ledger data plane): append, batch append, read.

Each route is one :class:`accord.log.ledger.Ledger` call. A batch is validated whole before
anything is queued, so one bad entry refuses the request with nothing written; its entries are
then written in one storage transaction (the ledger writes one request's items together).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from accord.core.entry import (
    DEFAULT_COLLECTION,
    TransactionId,
    encode_contents,
    validate_collection_id,
    validate_tags,
)
from accord.errors import AuthError, Gone, InvalidRequest, NotFound
from accord.log.ledger import LedgerEntry, NewEntry
from accord.service.http import (
    collection_param,
    entry_body_limit,
    in_thread,
    json_body,
    require,
)
from accord.service.state import STATE
from accord.service.users import READ_ROLES, WRITE_ROLES

AZURE_MAX_CONTENTS = 8 * 1024
PAGE_SIZE = 100
BATCH_ENTRY_FIELDS = frozenset({"contents", "collectionId", "tags"})


RESERVED_COLLECTION_PREFIX = "accord."


def refuse_reserved(collection: str, where: str = "") -> None:
    """Collections named ``accord.*`` hold accord's own records (documents, governance,
    evidence): no user writes them through the entry API, so none can forge one."""
    if isinstance(collection, str) and collection.startswith(RESERVED_COLLECTION_PREFIX):
        raise AuthError(
            f"{where}collection {collection} is reserved: collections named accord.* are "
            "written by accord itself"
        )


def _azure_warning(sizes: Sequence[int]) -> str | None:
    """What Azure would have answered, so that code meant to stay portable to it notices."""
    over = [i for i, size in enumerate(sizes) if size > AZURE_MAX_CONTENTS]
    if not over:
        return None
    if len(sizes) == 1:
        return (
            f"contents are {sizes[0]} bytes; Azure Confidential Ledger refuses entries over "
            f"{AZURE_MAX_CONTENTS} bytes"
        )
    shown = ", ".join(map(str, over[:10])) + (", ..." if len(over) > 10 else "")
    return (
        f"{len(over)} entries (index {shown}) have contents over {AZURE_MAX_CONTENTS} bytes, "
        "which Azure Confidential Ledger refuses"
    )


async def post_transaction(request: web.Request) -> web.Response:
    user = require(request, WRITE_ROLES)
    body = await json_body(request, entry_body_limit(request))
    if not isinstance(body, dict) or not isinstance(body.get("contents"), str):
        raise InvalidRequest('body must be a JSON object with a string "contents"')
    tags_param = request.query.get("tags")
    tags = [t for t in tags_param.split(",") if t] if tags_param else []
    collection = collection_param(request)
    refuse_reserved(collection)
    appender = request.app[STATE].appender
    future = appender.submit([NewEntry(body["contents"], collection, tags)], user_id=user.user_id)
    txids = await asyncio.wrap_future(future)
    txid = str(txids[0])
    headers = {"x-ms-ccf-transaction-id": txid}
    # Accepted here (the limit is configurable), but say what Azure would have answered.
    warning = _azure_warning([len(body["contents"].encode("utf-8", "surrogatepass"))])
    if warning:
        headers["x-accord-warning"] = warning
    return web.json_response({"collectionId": collection, "transactionId": txid}, headers=headers)


def parse_batch(body: object, *, max_entries: int) -> list[NewEntry]:
    """The entries of a batch body ``{"entries": [{"contents", "collectionId"?, "tags"?}, ...]}``.

    Checks the shape (types, fields, count); the values are checked by the rules of a single
    append when the ledger takes the entries (:func:`explain_invalid_entry` names the culprit).
    Raises :class:`InvalidRequest` naming the first bad entry by index. Pure: no I/O.
    """
    if not isinstance(body, dict):
        raise InvalidRequest('body must be a JSON object {"entries": [...]}')
    unknown = set(body) - {"entries"}
    if unknown:
        raise InvalidRequest(f"unknown batch fields: {', '.join(sorted(unknown))}")
    raw_entries = body.get("entries")
    if not isinstance(raw_entries, list):
        raise InvalidRequest('"entries" must be a JSON array of entries')
    if not raw_entries:
        raise InvalidRequest('"entries" is empty: nothing to append')
    if len(raw_entries) > max_entries:
        raise InvalidRequest(f"a batch holds at most {max_entries} entries, got {len(raw_entries)}")
    entries: list[NewEntry] = []
    for index, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            raise InvalidRequest(
                f'entries[{index}]: must be a JSON object with a string "contents"'
            )
        if len(raw) > 3 or not BATCH_ENTRY_FIELDS.issuperset(raw):
            extra = sorted(set(raw) - BATCH_ENTRY_FIELDS)
            raise InvalidRequest(f"entries[{index}]: unknown fields: {', '.join(extra)}")
        contents = raw.get("contents")
        if not isinstance(contents, str):
            raise InvalidRequest(f'entries[{index}].contents: "contents" must be a string')
        tags = raw.get("tags", ())
        if not isinstance(tags, list | tuple):
            raise InvalidRequest(f"entries[{index}].tags: tags must be a list of strings")
        collection = raw.get("collectionId", DEFAULT_COLLECTION)
        refuse_reserved(collection, f"entries[{index}].collectionId: ")
        entries.append(NewEntry(contents, collection, tags))
    return entries


def explain_invalid_entry(entries: Sequence[NewEntry], max_contents: int) -> None:
    """Raise :class:`InvalidRequest` naming the first entry a single append would refuse
    (``entries[3].tags: ...``), by the rules the ledger applies; return if every entry passes."""
    for index, entry in enumerate(entries):
        field = "contents"
        try:
            encode_contents(entry.contents, max_contents)
            field = "collectionId"
            validate_collection_id(entry.collection_id)
            field = "tags"
            validate_tags(entry.tags)
        except InvalidRequest as exc:
            raise InvalidRequest(f"entries[{index}].{field}: {exc}") from None


def _contents_sizes(entries: Sequence[NewEntry]) -> list[int]:
    # A string of n code points is at most 4n UTF-8 bytes: only long ones need encoding.
    limit = AZURE_MAX_CONTENTS // 4
    return [
        len(e.contents) if len(e.contents) <= limit else len(e.contents.encode("utf-8"))
        for e in entries
    ]


async def post_transactions_batch(request: web.Request) -> web.Response:
    """Append many entries atomically, in order, in one group commit."""
    user = require(request, WRITE_ROLES)
    state = request.app[STATE]
    limits = state.limits
    body = await json_body(request, limits.max_batch_bytes)
    entries = parse_batch(body, max_entries=limits.max_batch_entries)
    ledger = state.ledger
    try:
        # The ledger validates every entry before it queues any: a refusal writes nothing.
        future = state.appender.submit(entries, user_id=user.user_id)
    except InvalidRequest:
        explain_invalid_entry(entries, ledger.options.max_contents)
        raise  # not about one entry (e.g. the ledger is closing)
    ids = [str(t) for t in await asyncio.wrap_future(future)]
    headers = {"x-ms-ccf-transaction-id": ids[-1]}
    warning = _azure_warning(_contents_sizes(entries))
    if warning:
        headers["x-accord-warning"] = warning
    return web.json_response({"transactionIds": ids}, headers=headers)


async def _contents(request: web.Request, entry: LedgerEntry, user_id: str) -> str:
    """What ``user_id`` reads of ``entry``: its contents, opened for a reader organization's user
    when it is in a private collection (403 for anyone else, 410 once purged)."""
    node = request.app[STATE].consortium
    if node is None:
        return entry.contents
    text: str = await node.private.contents_for(entry, user_id)
    return text


async def get_transaction(request: web.Request) -> web.Response:
    user = require(request, READ_ROLES)
    txid = TransactionId.parse(request.match_info["txid"])
    # One indexed row read: cheaper on the event loop than a hop to a worker thread.
    entry = request.app[STATE].ledger.get_entry(txid)
    collection = request.query.get("collectionId")
    if collection is not None and collection != entry.metadata.collection_id:
        raise NotFound(f"transaction {txid} is not in collection {collection!r}")
    return web.json_response(
        {
            "state": "Ready",
            "entry": {
                "contents": await _contents(request, entry, user.user_id),
                "collectionId": entry.metadata.collection_id,
                "transactionId": str(txid),
                "tags": ",".join(entry.metadata.tags),
            },
        }
    )


async def get_transaction_status(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    txid = TransactionId.parse(request.match_info["txid"])
    status = request.app[STATE].ledger.status(txid)
    if status == "Unknown":
        raise NotFound(f"transaction {txid} does not exist")
    return web.json_response({"state": status, "transactionId": str(txid)})


async def get_current(request: web.Request) -> web.Response:
    user = require(request, READ_ROLES)
    ledger = request.app[STATE].ledger
    collection = collection_param(request)
    size = await in_thread(ledger.size)
    seqno = await in_thread(ledger.storage.last_seqno_in_collection, collection, size)
    if seqno is None:
        raise NotFound(f"collection {collection!r} has no entries")
    entry = await in_thread(ledger.get_entry, seqno)
    return web.json_response(
        {
            "contents": await _contents(request, entry, user.user_id),
            "collectionId": collection,
            "transactionId": str(entry.transaction_id),
        }
    )


async def get_ccf_receipt(request: web.Request) -> web.Response:
    """Azure/CCF-format receipt; ``Loading`` until a signed CCF root covers the entry."""
    require(request, READ_ROLES)
    state = request.app[STATE]
    txid = TransactionId.parse(request.match_info["txid"])
    if state.node_cert is None:
        raise NotFound("this node has no identity to sign CCF receipts with")
    body = await in_thread(state.ledger.ccf_receipt, txid, state.node_cert)
    if body is None:
        return web.json_response({"state": "Loading", "transactionId": str(txid)})
    return web.json_response(body)


def _txid_query(request: web.Request, name: str) -> TransactionId | None:
    raw = request.query.get(name)
    return None if raw is None else TransactionId.parse(raw)


async def list_transactions(request: web.Request) -> web.Response:
    user = require(request, READ_ROLES)
    ledger = request.app[STATE].ledger
    collection = collection_param(request)
    start = _txid_query(request, "fromTransactionId")
    end = _txid_query(request, "toTransactionId")
    for given in (start, end):
        if given is not None and given.view != ledger.view:
            raise NotFound(
                f"transaction {given} does not exist (this ledger is in view {ledger.view})"
            )
    size = await in_thread(ledger.size)
    first = start.seqno if start else 1
    last = min(end.seqno if end else size, size)
    if start and end and start.seqno > end.seqno:
        raise InvalidRequest("fromTransactionId must not be after toTransactionId")
    rows = await in_thread(
        lambda: ledger.get_entries(first, last, collection_id=collection, limit=PAGE_SIZE + 1)
    )
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    entries = []
    for e in page:
        listed: dict[str, Any] = {
            "collectionId": e.metadata.collection_id,
            "transactionId": str(e.transaction_id),
        }
        if e.redaction is not None:  # a redacted entry: listed, without contents
            listed.update(contents="", redacted=True, redactionTransactionId=str(e.redaction))
            entries.append(listed)
            continue
        try:
            listed["contents"] = await _contents(request, e, user.user_id)
        except Gone:  # a purged private entry: listed, without contents
            listed["contents"] = ""
            listed["purged"] = True
        entries.append(listed)
    body: dict[str, Any] = {"state": "Ready", "entries": entries}
    if more:
        query = {
            "collectionId": collection,
            "fromTransactionId": str(rows[PAGE_SIZE].transaction_id),
            "toTransactionId": f"{ledger.view}.{last}",
        }
        api_version = request.query.get("api-version")
        if api_version:
            query["api-version"] = api_version
        body["nextLink"] = "/app/transactions?" + urllib.parse.urlencode(query)
    return web.json_response(body)


async def list_collections(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    names = await in_thread(request.app[STATE].ledger.collections)
    return web.json_response({"collections": [{"collectionId": n} for n in names]})


def entry_routes() -> list[web.RouteDef]:
    # Fixed paths before /app/transactions/{txid}, which would otherwise match them.
    return [
        web.post("/app/transactions", post_transaction),
        web.get("/app/transactions", list_transactions),
        web.post("/app/transactions/batch", post_transactions_batch),
        web.get("/app/transactions/current", get_current),
        web.get("/app/transactions/{txid}", get_transaction),
        web.get("/app/transactions/{txid}/status", get_transaction_status),
        web.get("/app/transactions/{txid}/receipt", get_ccf_receipt),
        web.get("/app/collections", list_collections),
    ]
