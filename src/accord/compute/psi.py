"""Two-party private set intersection with openmined-psi (ECDH-PSI), run in both directions.

openmined-psi has a *server* (it sends its items blinded under its own key, and blinds the
client's request under that key too) and a *client* (it learns which of its own items are in the
server's set, when ``reveal_intersection`` is on). To let both parties learn the intersection
without trusting the other to report it, each party runs both roles at once over the MPyC
connection (:func:`run`):

1. each party sends its client request (its items blinded under its client key) and its set size;
2. each party, as server, answers the other's request and sends its setup message (its own items
   blinded under its server key, in the ``RAW`` structure: exact, no false positives);
3. each party, as client, computes the intersection of its own items with the other's set;
4. the parties exchange the SHA-256 of the sorted intersection and fail unless they agree
   (both directions must have been run over the same two sets).

What each party learns: the intersection items and the other party's set size — nothing about the
other party's items outside the intersection (under the DDH assumption, honest-but-curious
parties; a party may lie about its set, as in any PSI). The public result is
``{"size": n, "itemsSha256": hex}``; the items themselves are the ``private`` part, for the
party's own node only.

The messages travel through the runtime's ``transfer`` (the accord party runner replaces MPyC's
pickle-based one with JSON, see :mod:`accord.compute.party`), base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from accord.compute import ComputeError

FALSE_POSITIVE_RATE = 1e-9
"""Passed to openmined-psi's setup; the ``RAW`` structure it is used with is exact anyway."""


def intersection_digest(items: Sequence[str]) -> str:
    """SHA-256 (hex) of the items sorted by code point (= by UTF-8 bytes) and joined by ``\\n``."""
    return hashlib.sha256("\n".join(sorted(items)).encode("utf-8")).hexdigest()


def public_result(items: Sequence[str]) -> dict[str, Any]:
    return {"size": len(items), "itemsSha256": intersection_digest(items)}


def clear(inputs: Sequence[Sequence[str]], params: Mapping[str, Any]) -> dict[str, Any]:
    """The public result computed in the clear (the reference for :func:`run`)."""
    return public_result(sorted(set(inputs[0]).intersection(*inputs[1:])))


def _encode(message: Any) -> str:
    return base64.b64encode(message.SerializeToString()).decode("ascii")


def _decode(kind: type, text: object, what: str) -> Any:
    if not isinstance(text, str):
        raise ComputeError(f"the other party sent no {what}")
    try:
        message = kind()
        message.ParseFromString(base64.b64decode(text, validate=True))
    except Exception as exc:  # binascii.Error, protobuf's DecodeError
        raise ComputeError(f"the other party's {what} does not parse: {exc}") from exc
    return message


async def run(
    mpc: Any, items: Sequence[str], params: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both parties call this; returns ``(public result, {"items": sorted intersection})``."""
    import private_set_intersection.python as openmined

    if len(mpc.parties) != 2:
        raise ComputeError("psi runs between exactly two parties")
    peer = 1 - mpc.pid
    client = openmined.client.CreateWithNewKey(True)
    server = openmined.server.CreateWithNewKey(True)

    mine = {"size": len(items), "request": _encode(client.CreateRequest(list(items)))}
    theirs = (await mpc.transfer(mine))[peer]
    if not isinstance(theirs, dict):
        raise ComputeError("the other party sent no psi request")
    peer_size = theirs.get("size")
    if isinstance(peer_size, bool) or not isinstance(peer_size, int) or peer_size < 1:
        raise ComputeError("the other party sent no valid set size")
    request = _decode(openmined.Request, theirs.get("request"), "psi request")

    try:
        setup = server.CreateSetupMessage(
            FALSE_POSITIVE_RATE, peer_size, list(items), openmined.DataStructure.RAW
        )
        response = server.ProcessRequest(request)
    except Exception as exc:  # the C++ library raises RuntimeError on bad peer messages
        raise ComputeError(f"openmined-psi refused the other party's request: {exc}") from exc
    answer = (await mpc.transfer({"setup": _encode(setup), "response": _encode(response)}))[peer]
    if not isinstance(answer, dict):
        raise ComputeError("the other party sent no psi answer")
    peer_setup = _decode(openmined.ServerSetup, answer.get("setup"), "psi setup")
    peer_response = _decode(openmined.Response, answer.get("response"), "psi response")
    try:
        indices = client.GetIntersection(peer_setup, peer_response)
    except Exception as exc:
        raise ComputeError(f"openmined-psi refused the other party's answer: {exc}") from exc
    common = sorted(items[i] for i in indices)

    result = public_result(common)
    digests = await mpc.transfer(result["itemsSha256"])
    if digests[peer] != result["itemsSha256"]:
        raise ComputeError(
            "the two directions of psi found different intersections (the other party used"
            " different sets, or is faulty); no result"
        )
    return result, {"items": common}


IMPLEMENTATION: list[Callable[..., Any]] = [
    run,
    public_result,
    intersection_digest,
    _encode,
    _decode,
]
"""The functions whose source identifies the ``psi`` program (see catalogue.program_digest)."""
