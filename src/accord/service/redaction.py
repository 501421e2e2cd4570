"""Redaction over HTTP: ``POST /app/transactions/{txid}/redact`` (an accord extension).

An Administrator asks a single-node ledger to erase one entry's contents, with a reason
(``{"reason": "..."}``, 1-512 characters). The ledger writes a redaction record, then erases
(:meth:`accord.log.ledger.Ledger.redact`); the answer names the record's transaction id. After
that, ``GET /app/transactions/{txid}`` answers 410 ``EntryRedacted`` naming the record, listings
show the entry with empty contents and ``"redacted": true``, and receipts still verify.

Refusals change nothing: 400 for a malformed id or body or a bad reason, 403 for a caller who is
not an Administrator or an entry of an ``accord.*`` collection, 404 for an unknown entry, 409 for
an entry redacted already. A consortium node refuses with 400: its entries are stored by every
organization, and they are redacted by private-collection purge instead.
"""

from __future__ import annotations

from aiohttp import web

from accord.core.entry import TransactionId
from accord.core.redaction import CONSORTIUM_REFUSAL, Redaction, validate_reason
from accord.errors import InvalidRequest
from accord.service.http import in_thread, json_body, require
from accord.service.state import STATE
from accord.service.users import ADMIN_ROLES

REDACT_BODY_LIMIT = 8 * 1024  # a 512-character reason, JSON-escaped, and room


async def post_redaction(request: web.Request) -> web.Response:
    user = require(request, ADMIN_ROLES)
    state = request.app[STATE]
    if state.consortium is not None or state.ledger.options.external_finality:
        raise InvalidRequest(CONSORTIUM_REFUSAL)
    txid = TransactionId.parse(request.match_info["txid"])
    body = await json_body(request, REDACT_BODY_LIMIT)
    if not isinstance(body, dict) or set(body) != {"reason"}:
        raise InvalidRequest('body must be a JSON object {"reason": "<1-512 characters>"}')
    reason = validate_reason(body["reason"])
    ledger = state.ledger

    def redact() -> Redaction:
        return ledger.redact(txid, reason=reason, by=user.user_id)

    redaction: Redaction = await in_thread(redact)
    record_id = str(redaction.record_id)
    return web.json_response(
        {"transactionId": record_id, "redactedTransactionId": str(txid)},
        headers={"x-ms-ccf-transaction-id": record_id},
    )


def redaction_routes() -> list[web.RouteDef]:
    return [web.post("/app/transactions/{txid}/redact", post_redaction)]
