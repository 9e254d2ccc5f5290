"""Call detail records: the models, and what 4.x records leave to derive.

Firmware 4.x records carry no direction: it is derived here from the source
and destination type codes, and their status spellings are normalised.
The wire side (requests, parsing, filtering) is in `cdr_protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class CallDirection(StrEnum):
    """Direction of a call."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


class CallStatus(StrEnum):
    """Outcome of a call."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CONGESTION = "congestion"
    CANCELLED = "cancelled"
    UNAVAILABLE = "unavailable"
    FORBIDDEN = "forbidden"


class CdrFormat(StrEnum):
    """CDR export formats of firmware 4.x.

    `call_records` reads `summary`: one record per call.
    """

    SUMMARY = "summary"
    DETAILED = "detailed"
    V3_COMPAT = "v3_compat"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call from the CDR, 3.x and 4.x shapes folded into one model.

    Times are the PBX's local time as it reports them (naive datetimes).
    `status` is a `CallStatus`, or the PBX's own text when it is not one.
    """

    id: str
    unique_id: str | None = None
    direction: CallDirection = CallDirection.UNKNOWN
    status: CallStatus | str | None = None
    status_raw: str | None = None
    caller: str | None = None
    caller_name: str | None = None
    called: str | None = None
    called_name: str | None = None
    called_callgroup: str | None = None
    gateway_id: str | None = None
    gateway_name: str | None = None
    start: datetime | None = None
    answer: datetime | None = None
    end: datetime | None = None
    billsec: int | None = None
    duration: int | None = None
    source: str | None = None
    destination: str | None = None
    answered_by: str | None = None
    account_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CdrFilter:
    """CDR filter fields; `%` at either end is a wildcard. `any` excludes the rest."""

    any: str | None = None
    unique_id: str | None = None
    direction: CallDirection | None = None
    caller_num: str | None = None
    caller_name: str | None = None
    called_num: str | None = None
    called_name: str | None = None
    called_callgroup: str | None = None
    gateway_id: str | None = None
    gateway_name: str | None = None
    status: CallStatus | None = None
    billsec: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CdrQuery:
    """A CDR request: calls that started in the period, matching the filter.

    Times are the PBX's local time. The privacy password only exists on 3.x.
    """

    begin: datetime | None = None
    end: datetime | None = None
    filter: CdrFilter = field(default_factory=CdrFilter)
    privacy_password_md5: str | None = field(default=None, repr=False)


# ---------------------------------------------------------------- derivation

# The manual's exit causes and the Asterisk spellings, compared without
# case, blanks or underscores.
_STATUS_SPELLINGS = {
    "ANSWERED": CallStatus.ANSWERED,
    "OK": CallStatus.ANSWERED,
    "NOANSWER": CallStatus.NO_ANSWER,
    "BUSY": CallStatus.BUSY,
    "FAILED": CallStatus.FAILED,
    "CONGESTION": CallStatus.CONGESTION,
    "CANCELED": CallStatus.CANCELLED,
    "CANCELLED": CallStatus.CANCELLED,
    "UNAVAILABLE": CallStatus.UNAVAILABLE,
    "FORBIDDEN": CallStatus.FORBIDDEN,
}

# 4.x source/destination type codes of something inside the PBX.
INBOUND_LINE = "ibl"
OUTBOUND_LINE = "obl"
EXTENSION = "local_exten"
INTERNAL_TYPES = frozenset(
    {
        EXTENSION,
        "service",
        "callg",
        "queue",
        "ivr",
        "conference",
        "fax",
        "dre",
        "checktime",
        "voicemail",
    }
)


def normalize_status(raw: str | None) -> CallStatus | str | None:
    """A 4.x status in our vocabulary; an unknown one stays as the PBX wrote it."""
    if raw is None:
        return None
    key = "".join(raw.split()).replace("_", "").upper()
    return _STATUS_SPELLINGS.get(key, raw)


def derive_direction(source: str | None, destination: str | None) -> CallDirection:
    """A 4.x call's direction from its source and destination type codes.

    In on an inbound line: inbound, wherever it went (also out again).
    From inside the PBX out on an outbound line: outbound.
    From an extension to anything inside the PBX: internal.
    """
    src = (source or "").strip().lower()
    dst = (destination or "").strip().lower()
    if src == INBOUND_LINE:
        return CallDirection.INBOUND
    if src in INTERNAL_TYPES and dst == OUTBOUND_LINE:
        return CallDirection.OUTBOUND
    if src == EXTENSION and dst in INTERNAL_TYPES:
        return CallDirection.INTERNAL
    return CallDirection.UNKNOWN
