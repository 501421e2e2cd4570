"""S3's XML: the few request bodies the API reads and the answers it writes.

Request bodies are parsed with :mod:`xml.etree.ElementTree` after refusing any DTD (no entity
expansion); the S3 namespace is optional, as S3 itself accepts both. Answers are built from plain
strings with escaping, in S3's ``2006-03-01`` namespace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from xml.sax.saxutils import escape

from accord.errors import InvalidRequest

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML = 1024 * 1024


class MalformedXML(InvalidRequest):
    code = "MalformedXML"


def parse(body: bytes) -> ET.Element:
    if len(body) > MAX_XML:
        raise MalformedXML("the XML body is larger than 1 MiB")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise MalformedXML("XML with a DTD or entities is not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DTDs refused above; no external entities
    except ET.ParseError as exc:
        raise MalformedXML(f"the XML you provided was not well-formed: {exc}") from exc
    _strip_namespace(root)
    return root


def _strip_namespace(element: ET.Element) -> None:
    for e in element.iter():
        if isinstance(e.tag, str) and e.tag.startswith("{"):
            e.tag = e.tag.split("}", 1)[1]


def text_of(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    if found is None:
        return None
    return (found.text or "").strip()


def element(tag: str, *children: str, text: str | None = None) -> str:
    if text is not None:
        return f"<{tag}>{escape(text)}</{tag}>"
    return f"<{tag}>{''.join(children)}</{tag}>"


def leaf(tag: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def document(tag: str, children: Iterable[str]) -> bytes:
    body = "".join(children)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} xmlns="{NS}">{body}</{tag}>').encode()


def error_document(code: str, message: str, resource: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
        + leaf("Code", code)
        + leaf("Message", message)
        + leaf("Resource", resource)
        + leaf("RequestId", request_id)
        + "</Error>"
    ).encode()
