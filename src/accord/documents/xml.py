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
    try:
        text = body.decode("utf-8")  # S3's bodies are UTF-8; another encoding could hide a DTD
    except UnicodeDecodeError:
        raise MalformedXML("the XML body must be UTF-8") from None
    head = text.lstrip("\ufeff \t\r\n")[:200].lower()
    if head.startswith("<?xml") and "encoding" in head and "utf-8" not in head:
        raise MalformedXML("the XML body must be UTF-8 (and declare no other encoding)")
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise MalformedXML("XML with a DTD or entities is not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - UTF-8 only, and DTDs refused above
    except ET.ParseError as exc:
        raise MalformedXML(f"the XML you provided was not well-formed: {exc}") from exc
    _strip_namespace(root)
    return root


def _strip_namespace(element: ET.Element) -> None:
    for e in element.iter():
        if isinstance(e.tag, str) and e.tag.startswith("{"):
            e.tag = e.tag.split("}", 1)[1]


def text_of(element: ET.Element, path: str, *, strip: bool = True) -> str | None:
    """The text of a child; ``strip=False`` for values where spaces count (object keys)."""
    found = element.find(path)
    if found is None:
        return None
    text = found.text or ""
    return text.strip() if strip else text


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
