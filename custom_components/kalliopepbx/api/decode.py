"""Hardened decoding of PBX answers: bytes to documents, elements to values.

Tolerant of what real answers look like (one-element and empty lists, empty
elements, `12 ms` numbers, BOM and CRLF, latin-1 bodies) and strict about
what could hurt: a document type declaration (entity expansion) is refused
before the parser sees it, and so is nesting past `MAX_XML_DEPTH`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
import json
import math
import re
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import xmltodict

from .errors import KalliopeResponseError

BOM = b"\xef\xbb\xbf"
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")

# ---------------------------------------------------------------- elements


def as_list(node: Any) -> list[Any]:
    """A repeated element as a list, whether xmltodict saw zero, one or many."""
    if node is None or isinstance(node, str):
        return []
    if isinstance(node, list):
        return [item for item in node if item is not None]
    return [node]


def text(node: Any) -> str | None:
    """Stripped text of an element; None when empty or missing."""
    # A loop, not recursion: a JSON answer can nest lists thousands deep.
    while isinstance(node, list | Mapping):
        if isinstance(node, list):
            node = node[0] if node else None
        else:
            node = node.get("#text")
    if node is None:
        return None
    value = str(node).strip()
    return value or None


def flag(node: Any) -> bool | None:
    """`true`/`false` (and friends) as a bool; None when empty or unknown."""
    value = text(node)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    return None


def number(node: Any) -> float | None:
    """The first number in an element, e.g. `12 ms` → 12.0; None when none."""
    value = text(node)
    if value is None:
        return None
    match = _NUMBER.search(value)
    if match is None:
        return None
    result = float(match.group().replace(",", "."))
    # 400 nines are infinity, which no count or port can be.
    return result if math.isfinite(result) else None


def integer(node: Any) -> int | None:
    """An integer element; None when empty or not a number."""
    value = number(node)
    return int(value) if value is not None else None


def timestamp(node: Any) -> datetime | None:
    """A PBX `YYYY-MM-DD hh:mm:ss` time (naive, PBX local); None when empty."""
    value = text(node)
    if value is None:
        return None
    for time_format in _TIME_FORMATS:
        try:
            return datetime.strptime(value, time_format)  # noqa: DTZ007
        except ValueError:
            continue
    return None


def child(node: Any, name: str) -> Any:
    """A child element, or None when `node` is not an element with children."""
    if isinstance(node, Mapping):
        return node.get(name)
    return None


# ---------------------------------------------------------------- XML


def _refuse_dtd(*_: object) -> None:
    raise ExpatError("document type declarations refused")


# The reference's answers nest about 6 deep. A hostile document nested a
# million deep would otherwise cost hundreds of MB while xmltodict builds it.
MAX_XML_DEPTH = 64


class _DepthLimitedParser:
    """An expat parser whose element handlers refuse nesting past `MAX_XML_DEPTH`."""

    __slots__ = ("_depth", "_parser")

    def __init__(self, parser: expat.XMLParserType) -> None:
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_depth", [0])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        depth: list[int] = self._depth
        if name == "StartElementHandler":
            start_inner = value

            def start(tag: str, attributes: Any) -> None:
                depth[0] += 1
                if depth[0] > MAX_XML_DEPTH:
                    raise ExpatError(f"elements nested deeper than {MAX_XML_DEPTH}")
                start_inner(tag, attributes)

            value = start
        elif name == "EndElementHandler":
            end_inner = value

            def end(tag: str) -> None:
                depth[0] -= 1
                end_inner(tag)

            value = end
        setattr(self._parser, name, value)


class _ExpatWithoutDtd:
    """`xml.parsers.expat` for xmltodict, with declarations refused by the parser.

    The byte check in `decode_document` cannot see a declaration in UTF-16;
    the parser sees it whatever the encoding.
    """

    @staticmethod
    def ParserCreate(  # noqa: N802 - the name xmltodict calls
        encoding: str | None = None, namespace_separator: str | None = None
    ) -> _DepthLimitedParser:
        parser = expat.ParserCreate(encoding, namespace_separator)
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_dtd
        return _DepthLimitedParser(parser)


def decode_document(body: bytes, endpoint: str) -> Any:
    """Parse an XML body into xmltodict's structure, refusing dangerous input."""
    data = body.lstrip()
    if data.startswith(BOM):
        data = data[len(BOM) :].lstrip()
    if not data:
        raise KalliopeResponseError(endpoint, "empty answer")
    if _DOCTYPE.search(data):
        raise KalliopeResponseError(endpoint, "document type declarations refused")
    if not data.startswith(b"<"):
        raise KalliopeResponseError(endpoint, "answer is not XML")
    try:
        return xmltodict.parse(data, disable_entities=True, expat=_ExpatWithoutDtd)
    except ExpatError as err:
        if "not well-formed" in str(err) or "encoding" in str(err):
            # Some firmwares send latin-1 without declaring it.
            try:
                return xmltodict.parse(
                    data.decode("latin-1"),
                    disable_entities=True,
                    expat=_ExpatWithoutDtd,
                )
            except (ExpatError, ValueError):
                pass
        if "no element found" in str(err) or "unclosed token" in str(err):
            raise KalliopeResponseError(endpoint, "answer is truncated") from err
        raise KalliopeResponseError(
            endpoint, f"answer is not well-formed XML ({err})"
        ) from err
    except (ValueError, LookupError) as err:
        # LookupError: an encoding declaration Python does not know.
        raise KalliopeResponseError(endpoint, f"answer is not XML ({err})") from err


# ---------------------------------------------------------------- JSON


def decode_json(data: bytes) -> Any:
    """`json.loads`; raises ValueError, also for nesting too deep for Python."""
    try:
        return json.loads(data)
    except RecursionError as err:
        raise ValueError("JSON nested too deep") from err
