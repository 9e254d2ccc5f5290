"""Parsing of request bodies: expat without any DTD, so no entity is ever expanded."""

from __future__ import annotations

from typing import NoReturn
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat


class _ForbiddenError(ValueError):
    pass


def _forbid(*_args: object) -> NoReturn:
    raise _ForbiddenError("DTDs and entity declarations are not accepted")


def parse_xml(body: bytes) -> Element | None:
    """The document's root element, or None when the body is not well-formed
    XML or carries a DOCTYPE (which could declare entities)."""
    if not body.strip():
        return None
    builder = TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        return builder.close()
    except (expat.ExpatError, _ForbiddenError, AssertionError):
        return None


def text(parent: Element | None, tag: str) -> str | None:
    """The stripped text of a direct child; None when the child is absent."""
    if parent is None:
        return None
    child = parent.find(tag)
    if child is None:
        return None
    return (child.text or "").strip()


def request_parts(root: Element | None, tag: str) -> tuple[Element | None, str | None]:
    """(`<kpbx_request>`'s child `tag`, the request_id) of a parsed body."""
    if root is None or root.tag != "kpbx_request":
        return None, None
    request_id = text(root, "request_id")
    return root.find(tag), request_id or None
