"""Call detail records: the 3.x `POST /cdr` query and the 4.x `/cdr/{format}` one."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
import csv
from datetime import datetime, tzinfo
import io
import re
from typing import Any
from xml.etree.ElementTree import Element

from .state import CdrRecord, PbxState, md5_hex
from .xml_in import text
from .xml_out import XML_HEAD, el, esc

CDR_TIME = "%Y-%m-%d %H:%M:%S"

V3_FIELDS = (
    "unique_id",
    "id",
    "direction",
    "caller_num",
    "caller_name",
    "called_num",
    "called_name",
    "called_callgroup",
    "gateway_id",
    "gateway_name",
    "status",
    "billsec",
    "start",
    "answer",
    "end",
    "duration",
)
V3_FILTERS = (
    "unique_id",
    "direction",
    "caller_num",
    "caller_name",
    "called_num",
    "called_name",
    "called_callgroup",
    "gateway_id",
    "gateway_name",
    "status",
    "billsec",
)
V3_MESSAGES = {
    0: "Success",
    3: "Authentication error",
    11: "Invalid date time interval",
    12: "Internal error",
}

V4_FORMATS = ("summary", "detailed", "v3_compat", "blues_out")
V4_FIELDS = (
    "id",
    "source",
    "start_time",
    "answer_time",
    "end_time",
    "account_code",
    "caller",
    "gateway_name",
    "called",
    "status",
    "answered_by",
    "bill_secs",
    "duration",
    "destination",
)
# The manual's exit causes; CONGESTION is the Asterisk spelling, which the
# manual has no word for.
V4_STATUS = {1: "FAILED", 2: "BUSY", 3: "CONGESTION", 4: "NOANSWER", 8: "OK"}


class CdrError(Exception):
    """A query the PBX refuses; `code` is the 3.x error code."""

    def __init__(self, code: int) -> None:
        super().__init__(V3_MESSAGES[code])
        self.code = code


def like(pattern: str) -> Callable[[str], bool]:
    """The reference's matching: exact and case-insensitive; a `%` at the start
    and/or end stands for zero or more characters."""
    pat = pattern.casefold()
    lead = pat.startswith("%")
    trail = len(pat) > 1 and pat.endswith("%")
    core = pat[1 if lead else 0 : len(pat) - 1 if trail else len(pat)]
    if lead and trail:
        return lambda value: core in value.casefold()
    if lead:
        return lambda value: value.casefold().endswith(core)
    if trail:
        return lambda value: value.casefold().startswith(core)
    return lambda value: value.casefold() == core


def fmt(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime(CDR_TIME)


def parse_local(value: str, tz: tzinfo) -> datetime:
    return datetime.strptime(value, CDR_TIME).replace(tzinfo=tz)


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------- 3.x


def mask(state: PbxState, number: str) -> str:
    """External numbers lose their last three digits without the privacy password."""
    if len(number) <= 3 or state.is_internal_number(number):
        return number
    return number[:-3] + "XXX"


def v3_row(state: PbxState, rec: CdrRecord, reveal: bool) -> dict[str, str]:
    caller_num, called_num = rec.caller_num, rec.called_num
    caller_name, called_name = rec.caller_name, rec.called_name
    if not reveal:
        caller_num, called_num = mask(state, caller_num), mask(state, called_num)
        caller_name = called_name = ""
    return {
        "unique_id": rec.unique_id,
        "id": str(rec.id),
        "direction": str(rec.direction),
        "caller_num": caller_num,
        "caller_name": caller_name,
        "called_num": called_num,
        "called_name": called_name,
        "called_callgroup": rec.called_callgroup,
        "gateway_id": rec.gateway_id,
        "gateway_name": rec.gateway_name,
        "status": str(rec.status),
        "billsec": str(rec.billsec),
        "start": fmt(rec.start),
        "answer": fmt(rec.answer),
        "end": fmt(rec.end),
        "duration": str(rec.duration),
    }


def v3_query(state: PbxState, query: Element) -> list[dict[str, str]]:
    """The rows `POST /cdr` answers for a `<cdr>` element; raises CdrError."""
    privacy = text(query, "privacy_password")
    reveal = False
    if privacy:
        if privacy.lower() != md5_hex(state.privacy_password):
            raise CdrError(3)
        reveal = True
    now = state.local_now()
    try:
        begin_text = text(query, "begin")
        end_text = text(query, "end")
        begin = parse_local(begin_text, state.tz) if begin_text else month_start(now)
        end = parse_local(end_text, state.tz) if end_text else now
    except ValueError:
        raise CdrError(12) from None
    if end < begin:
        raise CdrError(11)
    by_start = (text(query, "start_flag") or "").lower() == "true"

    matchers: list[tuple[str, Callable[[str], bool]]] = []
    any_match: Callable[[str], bool] | None = None
    filter_elem = query.find("filter")
    if filter_elem is not None:
        any_value = text(filter_elem, "any")
        if any_value:
            any_match = like(any_value)
        else:
            for name in V3_FILTERS:
                value = text(filter_elem, name)
                if value:
                    matchers.append((name, like(value)))

    rows = []
    for rec in state.cdr:
        moment = rec.start if by_start else rec.end
        if not begin <= moment <= end:
            continue
        row = v3_row(state, rec, reveal)
        # Filters see what the caller sees: no search around the masking.
        if any_match is not None and not any(any_match(v) for v in row.values()):
            continue
        if all(match(row[name]) for name, match in matchers):
            rows.append(row)
    return rows


def v3_xml(rows: Iterable[dict[str, str]]) -> str:
    calls = "".join(
        "<call>" + "".join(el(name, row[name]) for name in V3_FIELDS) + "</call>"
        for row in rows
    )
    calls_xml = f"<calls>{calls}</calls>" if calls else "<calls/>"
    return (
        "<cdr><error_code><code>0</code><message>Success</message></error_code>"
        f"{calls_xml}</cdr>"
    )


def v3_error_xml(code: int) -> str:
    return (
        f"<cdr><error_code><code>{code}</code>"
        f"<message>{esc(V3_MESSAGES[code])}</message></error_code></cdr>"
    )


def to_csv(fields: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([row[name] for name in fields])
    return out.getvalue()


# ---------------------------------------------------------------- 4.x


def v4_types(rec: CdrRecord) -> tuple[str, str]:
    """Source and destination type codes: 4.x has no direction field."""
    if rec.direction == 1:
        return "ibl", "callg" if rec.called_callgroup else "local_exten"
    if rec.direction == 2:
        return "local_exten", "obl"
    return "local_exten", "local_exten"


def v4_row(rec: CdrRecord) -> dict[str, Any]:
    """Exactly the fields of a 4.x record, in the manual's order."""
    source, destination = v4_types(rec)
    return {
        "id": rec.unique_id,
        "source": source,
        "start_time": fmt(rec.start),
        "answer_time": fmt(rec.answer),
        "end_time": fmt(rec.end),
        "account_code": rec.account_code,
        "caller": rec.caller_num,
        "gateway_name": rec.gateway_name,
        "called": rec.called_num,
        "status": V4_STATUS.get(rec.status, "FAILED"),
        "answered_by": rec.answered_by,
        "bill_secs": rec.billsec,
        "duration": rec.duration,
        "destination": destination,
    }


_YEARS = re.compile(r"^(\d{4})(?:-(\d{4}))?$")
_TWO = re.compile(r"^(\d{1,2})(?:-(\d{1,2}))?$")


def _pair(pattern: re.Pattern[str], value: str, low: int, high: int) -> tuple[int, int]:
    found = pattern.match(value)
    if not found:
        raise ValueError(f"invalid range {value!r}")
    first = int(found.group(1))
    last = int(found.group(2)) if found.group(2) else first
    if not low <= first <= last <= high:
        raise ValueError(f"invalid range {value!r}")
    return first, last


def v4_period(
    now: datetime,
    years: str | None = None,
    months: str | None = None,
    days: str | None = None,
) -> tuple[datetime, datetime]:
    """The period of `/cdr/{format}/{years}/{months}/{days}`, as one continuous
    span from the first to the last date named (no range: the current month)."""
    tz = now.tzinfo
    if years is None:
        first_year = last_year = now.year
        first_month = last_month = now.month
    else:
        first_year, last_year = _pair(_YEARS, years, 1970, 2999)
        first_month, last_month = (
            (1, 12) if months is None else _pair(_TWO, months, 1, 12)
        )
    if first_year == last_year and first_month > last_month:
        raise ValueError("months out of order")
    last_of_first = calendar.monthrange(first_year, first_month)[1]
    last_of_last = calendar.monthrange(last_year, last_month)[1]
    if days is None:
        first_day, last_day = 1, last_of_last
    else:
        first_day, last_day = _pair(_TWO, days, 1, 31)
        if first_day > last_of_first:
            raise ValueError("day out of range")
        last_day = min(last_day, last_of_last)
    begin = datetime(first_year, first_month, first_day, tzinfo=tz)
    end = datetime(last_year, last_month, last_day, 23, 59, 59, tzinfo=tz)
    if end < begin:
        raise ValueError("empty period")
    return begin, end


def v4_select(
    state: PbxState, begin: datetime, end: datetime, unique_id: str | None = None
) -> list[CdrRecord]:
    match = like(unique_id) if unique_id else None
    return [
        rec
        for rec in state.cdr
        if begin <= rec.start <= end and (match is None or match(rec.unique_id))
    ]


def v4_xml(records: Iterable[CdrRecord]) -> str:
    """`<cdr><call>...</call></cdr>`, without the 3.x `<kpbx_response>`."""
    calls = []
    for rec in records:
        row = v4_row(rec)
        calls.append("<call>" + "".join(el(f, row[f]) for f in V4_FIELDS) + "</call>")
    return f"{XML_HEAD}<cdr>{''.join(calls)}</cdr>" if calls else f"{XML_HEAD}<cdr/>"


def v4_csv(records: Iterable[CdrRecord]) -> str:
    """The header line names the columns after a `#`."""
    body = to_csv(V4_FIELDS, (v4_row(rec) for rec in records))
    return "#" + body


def blues_out(records: Iterable[CdrRecord]) -> str:
    """One `;`-separated line per call (the 4.x text export)."""
    lines = []
    for rec in records:
        row = v4_row(rec)
        lines.append(
            ";".join(
                str(row[f])
                for f in ("id", "start_time", "caller", "called", "status", "duration")
            )
        )
    return "".join(f"{line}\n" for line in lines)
