"""What pushed events are called and carry: names, severities, parameter names.

The vendor's manual lists the event names and severities; of the parameters
it publishes one event's names only (see `FIELD_ALIASES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum


class EventSeverity(IntEnum):
    """`%event_severity%`: the PBX numbers them 0 (fatal) to 4 (debug)."""

    FATAL = 0
    CRITICAL = 1
    WARNING = 2
    INFO = 3
    DEBUG = 4


class EventName(StrEnum):
    """Event names the vendor's manual lists that calls and queues depend on."""

    CALL_START = "pbx.call.start"
    CALL_END = "pbx.call.end"
    EXTENSION_INCOMING = "pbx.extension.incomingcall"
    EXTENSION_ANSWERED = "pbx.extension.answercall"
    EXTENSION_FAILED = "pbx.extension.failedcall"
    EXTENSION_MISSED = "pbx.extension.missedcall"
    ACCOUNT_INCOMING = "pbx.account.incomingcall"
    ACCOUNT_START = "pbx.account.startcall"
    ACCOUNT_UNAVAILABLE = "pbx.account.unavailable"
    QUEUE_ENTER = "pbx.queue.enter"
    QUEUE_ENQUEUE = "pbx.queue.enqueue"
    QUEUE_RING_MEMBER = "pbx.queue.ringmember"
    QUEUE_RING_NO_ANSWER = "pbx.queue.ringnoanswer"
    QUEUE_SERVED = "pbx.queue.servedcall"
    QUEUE_UNSERVED = "pbx.queue.unservedcall"
    QUEUE_MEMBER_ADDED = "pbx.queuemember.added"
    QUEUE_MEMBER_REMOVED = "pbx.queuemember.removed"
    QUEUE_MEMBER_PAUSE = "pbx.queuemember.pause"
    QUEUE_MEMBER_UNPAUSE = "pbx.queuemember.unpause"


# Names each field is recognised under, most specific first. Only `uniqueid`,
# `caller_num`, `called_num`, `queue_id`, `queue_name`, `waiting_time` and
# `reason` are published; the rest are the usual spellings of Asterisk-based
# systems (KalliopePBX is one) and of the PBX's own REST and CDR fields.
FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "extension": (
        "extension",
        "exten",
        "ext",
        "extension_number",
        "extension_num",
        "user_exten",
        "user_extension",
    ),
    "caller_number": (
        "caller_num",
        "caller_number",
        "callerid_num",
        "calleridnum",
        "caller_id_num",
        "caller_id_number",
        "cid_num",
        "callerid",
        "caller_id",
        "caller",
        "src",
        "source",
        "from",
    ),
    "caller_name": (
        "caller_name",
        "callerid_name",
        "calleridname",
        "caller_id_name",
        "cid_name",
        "display_name",
    ),
    "called_number": (
        "called_num",
        "called_number",
        "called",
        "dialed_num",
        "dialled_num",
        "dialed_number",
        "dialled_number",
        "dst",
        "destination",
        "to",
    ),
    "did": ("did", "dnid", "did_num", "did_number"),
    "call_id": (
        "uniqueid",
        "unique_id",
        "call_id",
        "callid",
        "linkedid",
        "linked_id",
    ),
    "duration": ("duration", "call_duration", "billsec", "talk_time", "talking_time"),
    "member": (
        "member",
        "member_num",
        "member_exten",
        "member_extension",
        "agent",
        "agent_num",
        "interface",
    ),
    "queue_id": ("queue_id", "queueid", "queue"),
    "queue_name": ("queue_name", "queuename"),
    "waiting_time": ("waiting_time", "wait_time", "holdtime", "hold_time"),
    "reason": ("reason", "cause", "hangup_cause", "disposition"),
    "account": ("account", "account_name", "trunk", "gateway"),
}
RECOGNISED = frozenset(name for names in FIELD_ALIASES.values() for name in names)
