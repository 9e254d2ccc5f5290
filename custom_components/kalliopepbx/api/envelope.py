"""The `<kpbx_response>` envelope every XML answer comes in.

The PBX's own refusals are raised here as the matching `KalliopeError`:
`request_not_allowed` (licence) and a non-zero `<error><code>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .decode import child, decode_document, flag, integer, text
from .errors import KalliopeApiError, KalliopeLicenseError, KalliopeResponseError

type Node = Mapping[str, Any]

ROOT = "kpbx_response"


def parse_response(body: bytes, endpoint: str) -> Node:
    """The `<kpbx_response>` content, with licence refusals raised."""
    return response_content(decode_document(body, endpoint), endpoint)


def response_content(document: Any, endpoint: str) -> Node:
    """`parse_response` for a document already decoded."""
    if not isinstance(document, Mapping) or ROOT not in document:
        root = next(iter(document), "?") if isinstance(document, Mapping) else "?"
        raise KalliopeResponseError(endpoint, f"unexpected root element <{root}>")
    content = document[ROOT]
    if content is None:
        return {}
    if not isinstance(content, Mapping):
        raise KalliopeResponseError(endpoint, "answer has no elements")
    refusal = content.get("request_not_allowed")
    if refusal is not None or "request_not_allowed" in content:
        error = child(refusal, "error")
        code = integer(child(error, "code"))
        raise KalliopeLicenseError(
            code if code is not None else 0,
            text(child(error, "message")) or "request not allowed",
            endpoint,
        )
    return content


def require(content: Node, name: str, endpoint: str) -> Any:
    """A mandatory element of an answer."""
    if name not in content:
        raise KalliopeResponseError(endpoint, f"answer lacks <{name}>")
    return content[name]


def check_error(node: Any, endpoint: str, *, key: str = "error") -> None:
    """Raise the PBX's error when `node` carries a non-zero code."""
    error = child(node, key)
    if error is None:
        return
    code = integer(child(error, "code"))
    if code is None:
        raise KalliopeResponseError(endpoint, "error element without a code")
    if code != 0:
        raise KalliopeApiError(code, text(child(error, "message")) or "", endpoint)


def parse_status_flag(content: Node, name: str, endpoint: str) -> bool:
    """A `<name>true|false</name>` answer (pending, applied, reloaded, ...)."""
    value = flag(require(content, name, endpoint))
    if value is None:
        raise KalliopeResponseError(endpoint, f"<{name}> is not true/false")
    return value


def parse_result(
    body: bytes, endpoint: str, element: str, *, key: str = "error"
) -> None:
    """An answer that is only `<element><error><code>0</code>…`."""
    node = require(parse_response(body, endpoint), element, endpoint)
    if child(node, key) is None:
        raise KalliopeResponseError(endpoint, f"<{element}> carries no result code")
    check_error(node, endpoint, key=key)
