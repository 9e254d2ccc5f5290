"""Event notifications the PBX pushes over HTTP, decoded into typed events.

KalliopePBX's notification actions (Monitoring → Notifications) call a URL
with a template of placeholders filled in. The vendor documents the
placeholders but only one event's parameter names (`pbx.queue.unservedcall`:
`uniqueid`, `caller_num`, `called_num`, `queue_id`, `queue_name`,
`waiting_time`, `reason`), so the decoder is tolerant: it recognises the
extension, the parties and the call under every plausible name, and keeps
every parameter as received.

Accepted shapes, whatever the Content-Type says:
- a JSON object: `event_*` fields and `call_params` (an object, or a string
  holding JSON, XML or AVP); other top-level keys count as parameters;
- `NOTIFICATION_TEMPLATE` with an event description that broke its JSON
  (the PBX substitutes placeholders without escaping);
- an XML document (`<response>…</response>`), its children the fields;
- AVP (`a=b&c=d`), in the body or in the URL's query (GET).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from .decode import BOM, decode_document
from .errors import KalliopeNotificationError, KalliopeResponseError
from .event_fields import FIELD_ALIASES, RECOGNISED, EventName, EventSeverity

# A notification is a few hundred bytes; this leaves room for long descriptions.
MAX_NOTIFICATION_BYTES = 64 * 1024
MAX_PARAMETERS = 100
MAX_NAME_LENGTH = 100
MAX_VALUE_LENGTH = 4096

# What to paste in the PBX's "Request content" (POST). The description comes
# last: the PBX inserts it unescaped, and a quote in it must not cost the rest.
NOTIFICATION_TEMPLATE = (
    '{"event_id":"%event_id%","event_name":"%event_name%",'
    '"event_severity":"%event_severity%","event_timestamp":"%event_timestamp%",'
    '"call_params":%call_params[JSON]%,'
    '"event_description":"%event_description%"}'
)
# What to append to the URL for GET: the event's parameters become the query.
NOTIFICATION_QUERY_TEMPLATE = (
    "event_id=%event_id%&event_name=%event_name%&event_severity=%event_severity%"
    "&event_timestamp=%event_timestamp%&%call_params[AVP]%"
)

_EVENT_FIELDS = frozenset(
    {"event_id", "event_name", "event_description", "event_severity", "event_timestamp"}
)
_PARAMS_KEYS = ("call_params", "params", "parameters")
_EVENT_NAME = re.compile(r"[a-z0-9][a-z0-9_.*-]*")
_BROKEN_TEMPLATE = re.compile(
    r'^\s*(?P<head>\{.*),\s*"event_description"\s*:\s*"(?P<description>.*)"\s*\}\s*$',
    re.DOTALL,
)
_CHANNEL = re.compile(r"^(?:[A-Za-z]+/)?(?P<number>[^@;/-]+)")


@dataclass(frozen=True, slots=True)
class PbxEvent:
    """One event the PBX pushed, with its parameters as received.

    The typed fields are what was recognised among the parameters (see
    `FIELD_ALIASES`); `params` keeps every parameter, recognised or not.
    """

    name: str
    event_id: int | None = None
    timestamp: float | None = None
    severity: EventSeverity | None = None
    description: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    extension: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    called_number: str | None = None
    did: str | None = None
    call_id: str | None = None
    duration: int | None = None
    member: str | None = None
    queue_id: str | None = None
    queue_name: str | None = None
    waiting_time: int | None = None
    reason: str | None = None
    account: str | None = None

    @property
    def known_name(self) -> EventName | None:
        """The event as one of the names the manual lists, if it is one."""
        try:
            return EventName(self.name)
        except ValueError:
            return None

    @property
    def unrecognised_params(self) -> dict[str, str]:
        """Parameters under names none of the typed fields is read from."""
        return {
            key: value
            for key, value in self.params.items()
            if _key(key) not in RECOGNISED
        }

    @property
    def dedup_key(self) -> tuple[int, float | None, str] | None:
        """What makes a repeated delivery of this event recognisable.

        The id alone is not enough: a PBX restart may start counting again.
        """
        if self.event_id is None:
            return None
        return (self.event_id, self.timestamp, self.name)


def parse_notification(
    body: bytes, query: Mapping[str, str] | Iterable[tuple[str, str]] = ()
) -> PbxEvent:
    """Decode one notification: the request's body and its URL's query.

    Fields in the body win over the query's. Raises
    `KalliopeNotificationError` when it carries no usable event name or is
    larger than `MAX_NOTIFICATION_BYTES`.
    """
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise KalliopeNotificationError(
            f"body larger than {MAX_NOTIFICATION_BYTES} bytes"
        )
    fields: dict[str, str] = {}
    params: dict[str, str] = {}
    query_items = query.items() if isinstance(query, Mapping) else query
    _split(list(query_items), fields, params)
    if body.strip():
        body_fields, body_params = _decode_body(body)
        fields.update(body_fields)
        params.update(body_params)
    if len(params) > MAX_PARAMETERS:
        raise KalliopeNotificationError(f"more than {MAX_PARAMETERS} parameters")
    return _event(fields, params)


def _event(fields: Mapping[str, str], params: dict[str, str]) -> PbxEvent:
    name = fields.get("event_name", "").strip().lower()
    if not name or len(name) > MAX_NAME_LENGTH or not _EVENT_NAME.fullmatch(name):
        raise KalliopeNotificationError("no valid event_name")
    by_key = {_key(key): value.strip() for key, value in params.items()}
    found = {
        target: _first(by_key, aliases) for target, aliases in FIELD_ALIASES.items()
    }
    return PbxEvent(
        name=name,
        event_id=_integer(fields.get("event_id")),
        timestamp=_epoch(fields.get("event_timestamp")),
        severity=_severity(fields.get("event_severity")),
        description=fields.get("event_description", "").strip() or None,
        params=params,
        extension=found["extension"],
        caller_number=found["caller_number"],
        caller_name=found["caller_name"],
        called_number=found["called_number"],
        did=found["did"],
        call_id=found["call_id"],
        duration=_integer(found["duration"]),
        member=_channel_number(found["member"]),
        queue_id=found["queue_id"],
        queue_name=found["queue_name"],
        waiting_time=_integer(found["waiting_time"]),
        reason=found["reason"],
        account=found["account"],
    )


# ----------------------------------------------------------------- shapes


def _decode_body(body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    text = _text(body).strip()
    fields: dict[str, str] = {}
    params: dict[str, str] = {}
    if text.startswith("{"):
        document = _json_object(text)
        if document is None:
            raise KalliopeNotificationError("body is not a JSON object")
        _split(list(document.items()), fields, params)
    elif text.startswith("<"):
        _split(list(_xml_fields(body).items()), fields, params)
    else:
        _split(_avp(text), fields, params)
    return fields, params


def _json_object(text: str) -> dict[str, Any] | None:
    document = _loads(text)
    if isinstance(document, dict):
        return document
    # Our template with a description that broke the JSON around it.
    match = _BROKEN_TEMPLATE.match(text)
    if match is None:
        return None
    head = _loads(match["head"] + "}")
    if not isinstance(head, dict):
        return None
    head["event_description"] = match["description"]
    return head


def _split(
    items: list[tuple[Any, Any]], fields: dict[str, str], params: dict[str, str]
) -> None:
    """Sort top-level entries into event fields and call parameters."""
    for raw_key, value in items:
        key = str(raw_key).strip()
        lowered = _key(key)
        if lowered in _EVENT_FIELDS:
            fields[lowered] = _scalar(value)
        elif lowered in _PARAMS_KEYS:
            params.update(_params(value))
        elif key:
            params[key[:MAX_NAME_LENGTH]] = _scalar(value)


def _params(value: Any) -> dict[str, str]:
    """`%call_params[…]%` as an object, or as a string in any of its formats."""
    if isinstance(value, Mapping):
        return {str(k)[:MAX_NAME_LENGTH]: _scalar(v) for k, v in value.items()}
    if not isinstance(value, str) or not value.strip():
        return {}
    text = value.strip()
    if text.startswith("{"):
        document = _loads(text)
        return _params(document) if isinstance(document, dict) else {}
    if text.startswith("<"):
        return _xml_fields(text.encode())
    return {str(k)[:MAX_NAME_LENGTH]: v for k, v in _avp(text)}


def _xml_fields(body: bytes) -> dict[str, str]:
    try:
        document = decode_document(body, "notification")
    except KalliopeResponseError as err:
        raise KalliopeNotificationError(err.reason) from None
    if not isinstance(document, Mapping) or len(document) != 1:
        raise KalliopeNotificationError("XML body without one root element")
    root = next(iter(document.values()))
    if not isinstance(root, Mapping):
        return {}
    result: dict[str, str] = {}
    for key, value in root.items():
        if str(key).startswith(("@", "#")):
            continue
        if _key(str(key)) in _PARAMS_KEYS and isinstance(value, Mapping):
            result.update({str(k): _scalar(v) for k, v in value.items()})
        else:
            result[str(key)] = _scalar(value)
    return result


def _avp(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_PARAMETERS)
    except ValueError:
        raise KalliopeNotificationError(
            f"more than {MAX_PARAMETERS} parameters"
        ) from None


# ----------------------------------------------------------------- values


def _text(body: bytes) -> str:
    if body.startswith(BOM):
        body = body[len(BOM) :]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        # Older firmware and hand-written templates: latin-1 never fails.
        return body.decode("latin-1")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, Mapping) and set(value) <= {"#text", "@xmlns"}:
        text = str(value.get("#text", ""))
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            text = str(value)
    return text[:MAX_VALUE_LENGTH]


def _key(key: str) -> str:
    return key.strip().lower().replace("-", "_").replace(" ", "_")


def _first(by_key: Mapping[str, str], aliases: tuple[str, ...]) -> str | None:
    for alias in aliases:
        value = by_key.get(alias)
        if value:
            return value
    return None


def _integer(value: str | None) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else None


def _epoch(value: str | None) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and abs(number) < 1e15 else None


def _severity(value: str | None) -> EventSeverity | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.upper() in EventSeverity.__members__:
        return EventSeverity[text.upper()]
    number = _integer(text)
    try:
        return EventSeverity(number) if number is not None else None
    except ValueError:
        return None


def _channel_number(value: str | None) -> str | None:
    """A queue member as its extension: `SIP/201-00000a1f` → `201`."""
    if value is None:
        return None
    match = _CHANNEL.match(value)
    return match["number"] if match else value
