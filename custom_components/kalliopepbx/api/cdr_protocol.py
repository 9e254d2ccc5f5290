"""Call detail records on the wire: requests, answer parsing, 4.x filtering.

Firmware 3.x (`POST /cdr`) carries a direction code and filters on the PBX.
Firmware 4.x (`POST /rest/cdr/{format}`) filters by time only, so the rest
of the filter is applied here to the records it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import csv
from datetime import datetime
import io
from typing import Any

from .cdr import (
    CallDirection,
    CallRecord,
    CallStatus,
    CdrFilter,
    CdrQuery,
    derive_direction,
    normalize_status,
)
from .decode import (
    BOM,
    as_list,
    child,
    decode_document,
    decode_json,
    integer,
    text,
    timestamp,
)
from .envelope import check_error, require, response_content
from .errors import (
    KalliopeInputError,
    KalliopeResponseError,
    KalliopeUnsupportedFilterError,
)

# ---------------------------------------------------------------- 3.x codes

_V3_DIRECTIONS = {
    1: CallDirection.INBOUND,
    2: CallDirection.OUTBOUND,
    4: CallDirection.INTERNAL,
}
_V3_STATUSES = {
    1: CallStatus.FAILED,
    2: CallStatus.BUSY,
    3: CallStatus.CONGESTION,
    4: CallStatus.NO_ANSWER,
    8: CallStatus.ANSWERED,
}
V3_DIRECTION_CODES = {value: key for key, value in _V3_DIRECTIONS.items()}
V3_STATUS_CODES = {value: key for key, value in _V3_STATUSES.items()}

# ---------------------------------------------------------------- records


def _unquote(value: str | None) -> str | None:
    """The reference shows `called_num` as `"..."`; drop the quotes if present."""
    if value and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1] or None
    return value


# CallRecord fields each shape carries as they are: field -> (reader, element).
type _Fields = Mapping[str, tuple[Callable[[Any], Any], str]]

_V3_FIELDS: _Fields = {
    "unique_id": (text, "unique_id"),
    "caller": (text, "caller_num"),
    "caller_name": (text, "caller_name"),
    "called_name": (text, "called_name"),
    "called_callgroup": (text, "called_callgroup"),
    "gateway_id": (text, "gateway_id"),
    "gateway_name": (text, "gateway_name"),
    "start": (timestamp, "start"),
    "answer": (timestamp, "answer"),
    "end": (timestamp, "end"),
    "billsec": (integer, "billsec"),
    "duration": (integer, "duration"),
}
_V4_FIELDS: _Fields = {
    "caller": (text, "caller"),
    "called": (text, "called"),
    "gateway_name": (text, "gateway_name"),
    "start": (timestamp, "start_time"),
    "answer": (timestamp, "answer_time"),
    "end": (timestamp, "end_time"),
    "billsec": (integer, "bill_secs"),
    "duration": (integer, "duration"),
    "answered_by": (text, "answered_by"),
    "account_code": (text, "account_code"),
}


def _read(node: Mapping[str, Any], fields: _Fields) -> dict[str, Any]:
    return {field: read(node.get(name)) for field, (read, name) in fields.items()}


def _v3_record(node: Mapping[str, Any]) -> CallRecord | None:
    call_id = text(node.get("id"))
    if call_id is None:
        return None
    raw_status = text(node.get("status"))
    return CallRecord(
        id=call_id,
        direction=_V3_DIRECTIONS.get(
            integer(node.get("direction")) or 0, CallDirection.UNKNOWN
        ),
        status=_V3_STATUSES.get(integer(raw_status) or 0, raw_status),
        status_raw=raw_status,
        called=_unquote(text(node.get("called_num"))),
        **_read(node, _V3_FIELDS),
    )


def _v4_record(node: Mapping[str, Any]) -> CallRecord | None:
    call_id = text(node.get("id"))
    if call_id is None:
        return None
    raw_status = text(node.get("status"))
    source = text(node.get("source"))
    destination = text(node.get("destination"))
    return CallRecord(
        id=call_id,
        unique_id=call_id,
        direction=derive_direction(source, destination),
        status=normalize_status(raw_status),
        status_raw=raw_status,
        source=source,
        destination=destination,
        **_read(node, _V4_FIELDS),
    )


def _records(items: Iterable[Any]) -> list[CallRecord]:
    """Calls of either shape; a 4.x call is told apart by its `start_time`."""
    records = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        record = _v4_record(item) if "start_time" in item else _v3_record(item)
        if record is not None:
            records.append(record)
    return records


def _from_xml(body: bytes, endpoint: str) -> list[CallRecord]:
    # 3.x: `<kpbx_response><cdr><error_code/><calls><call>`; 4.x: `<cdr><call>`.
    document = decode_document(body, endpoint)
    if isinstance(document, Mapping) and "cdr" in document:
        cdr = document["cdr"]
    else:
        cdr = require(response_content(document, endpoint), "cdr", endpoint)
    check_error(cdr, endpoint, key="error_code")
    check_error(cdr, endpoint)
    calls = child(cdr, "calls")
    if calls is not None:
        return _records(as_list(child(calls, "call")))
    return _records(as_list(child(cdr, "call")))


def _from_json(body: bytes, endpoint: str) -> list[CallRecord]:
    # 4.x answers a bare list; `{"cdr": [...]}` is tolerated too.
    try:
        data = decode_json(body)
    except ValueError as err:
        raise KalliopeResponseError(endpoint, "answer is not JSON") from err
    calls = data.get("cdr") if isinstance(data, dict) else data
    if isinstance(calls, dict):
        calls = calls.get("call") or calls.get("calls") or []
    if not isinstance(calls, list):
        raise KalliopeResponseError(endpoint, "JSON answer has no list of calls")
    return _records(calls)


def _from_csv(body: bytes, endpoint: str) -> list[CallRecord]:
    # 4.x's header line starts with `#id`.
    try:
        content = body.decode("utf-8")
    except UnicodeDecodeError:
        content = body.decode("latin-1")
    rows = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(rows, None)
        if not header:
            raise KalliopeResponseError(endpoint, "CSV answer has no header")
        names = [name.strip().lstrip("#").strip() for name in header]
        if "id" not in names:
            raise KalliopeResponseError(endpoint, "CSV answer has no id column")
        return _records(dict(zip(names, row, strict=False)) for row in rows if row)
    except csv.Error as err:
        raise KalliopeResponseError(endpoint, f"answer is not CSV ({err})") from err


def parse_call_records(body: bytes, endpoint: str) -> list[CallRecord]:
    """A CDR answer in XML, JSON or CSV, whichever the PBX chose to send."""
    data = body.lstrip()
    if data.startswith(BOM):
        data = data[len(BOM) :].lstrip()
    if data[:1] in (b"[", b"{"):
        return _from_json(data, endpoint)
    first_line = data.split(b"\n", 1)[0]
    if b"," in first_line and b"<" not in first_line:
        return _from_csv(data, endpoint)
    # Also what is neither: the XML parser says best what is wrong with it.
    return _from_xml(data, endpoint)


# ---------------------------------------------------------------- requests


def _pbx_time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def v3_request(query: CdrQuery) -> dict[str, Any]:
    """`<cdr>` of `POST /cdr`: the PBX filters everything itself."""
    search = query.filter
    _check_v3_filter(search)
    filters: dict[str, Any]
    if search.any is not None:
        filters = {"any": search.any}
    else:
        filters = {
            "unique_id": search.unique_id,
            "direction": V3_DIRECTION_CODES[search.direction]
            if search.direction
            else None,
            "caller_num": search.caller_num,
            "caller_name": search.caller_name,
            "called_num": search.called_num,
            "called_name": search.called_name,
            "called_callgroup": search.called_callgroup,
            "gateway_id": search.gateway_id,
            "gateway_name": search.gateway_name,
            "status": V3_STATUS_CODES[search.status] if search.status else None,
            "billsec": search.billsec,
        }
    if all(value is None for value in filters.values()):
        filters = {}
    return {
        "cdr": {
            "privacy_password": query.privacy_password_md5,
            "begin": _pbx_time(query.begin),
            "end": _pbx_time(query.end),
            # Otherwise the period selects calls that ended in it.
            "start_flag": True,
            "filter": filters or None,
        }
    }


def v4_request(query: CdrQuery) -> dict[str, Any]:
    """`<cdr>` of `POST /rest/cdr/{format}`: a period and at most one call id."""
    _check_v4_filter(query.filter)
    unique_id = query.filter.unique_id
    return {
        "cdr": {
            "begin": _pbx_time(query.begin),
            "end": _pbx_time(query.end),
            # Wildcards are matched here, not by the PBX.
            "unique_id": unique_id if unique_id and "%" not in unique_id else None,
        }
    }


# ---------------------------------------------------------------- filtering

# What 4.x records do not carry at all.
_V4_ABSENT = ("caller_name", "called_name", "called_callgroup", "gateway_id")


def _check_direction(search: CdrFilter) -> None:
    if search.direction is CallDirection.UNKNOWN:
        raise KalliopeInputError("a direction filter is inbound, outbound or internal")


def _check_v3_filter(search: CdrFilter) -> None:
    _check_direction(search)
    if search.status is not None and search.status not in V3_STATUS_CODES:
        raise KalliopeUnsupportedFilterError("status", search.status.value)


def _check_v4_filter(search: CdrFilter) -> None:
    _check_direction(search)
    if search.any is not None:
        return
    for name in _V4_ABSENT:
        if getattr(search, name) is not None:
            raise KalliopeUnsupportedFilterError(name)


def like(value: str | None, pattern: str) -> bool:
    """The PBX's matching: exact, case-insensitive; `%` at either end is a wildcard."""
    if value is None:
        return False
    wanted = pattern.casefold()
    found = value.casefold()
    lead = wanted.startswith("%")
    trail = len(wanted) > 1 and wanted.endswith("%")
    core = wanted[1 if lead else 0 : len(wanted) - 1 if trail else len(wanted)]
    if lead and trail:
        return core in found
    if lead:
        return found.endswith(core)
    if trail:
        return found.startswith(core)
    return found == core


def _searchable(record: CallRecord) -> list[str]:
    values: list[str] = []
    for name in (
        "id",
        "source",
        "caller",
        "gateway_name",
        "called",
        "status_raw",
        "answered_by",
        "account_code",
        "destination",
    ):
        value = getattr(record, name)
        if value is not None:
            values.append(str(value))
    return values


def matches_v4(record: CallRecord, search: CdrFilter) -> bool:
    """Whether a 4.x record passes the filter the PBX could not apply."""
    if search.any is not None:
        return any(like(value, search.any) for value in _searchable(record))
    return (
        (search.unique_id is None or like(record.id, search.unique_id))
        and (search.direction is None or record.direction is search.direction)
        and (search.caller_num is None or like(record.caller, search.caller_num))
        and (search.called_num is None or like(record.called, search.called_num))
        and (
            search.gateway_name is None
            or like(record.gateway_name, search.gateway_name)
        )
        and (search.status is None or record.status is search.status)
        and (search.billsec is None or record.billsec == search.billsec)
    )
