"""Typed, normalized models of what a KalliopePBX reports.

The shapes follow what a caller needs, not the XML: numbers are numbers,
flags are booleans, unknown enum values fall back to an UNKNOWN member while
the raw value is kept. Secrets the PBX returns (SIP, voicemail and web
secrets, conference PINs) are never stored in a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Self


class RegistrationStatus(StrEnum):
    """SIP qualify state of an extension's registration."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Registration:
    """Registration state of one extension."""

    exten: str
    status: RegistrationStatus
    status_raw: str | None = None
    rtt_ms: float | None = None
    contact: str | None = None
    ip: str | None = None
    port: int | None = None
    user_agent: str | None = None

    @property
    def registered(self) -> bool:
        """An extension counts as registered only when its phone answers."""
        return self.status is RegistrationStatus.OK


@dataclass(frozen=True, slots=True)
class UserBrief:
    """Identity of an extension."""

    exten: str
    enabled: bool
    first_name: str | None = None
    last_name: str | None = None

    @property
    def name(self) -> str | None:
        """`First Last` as a person would write it, or None when both are empty."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or None


class FailoverType(StrEnum):
    """Where a call goes when the extension is busy, does not answer or is offline."""

    FORWARD_TO_EXTEN = "FORWARD_TO_EXTEN"
    FORWARD_TO_CALLGROUP_WITHOUT_CHECKTIME = "FORWARD_TO_CALLGROUP_WITHOUT_CHECKTIME"
    FORWARD_TO_CALLGROUP_WITH_CHECKTIME = "FORWARD_TO_CALLGROUP_WITH_CHECKTIME"
    FORWARD_TO_QUEUE_WITHOUT_CHECKTIME = "FORWARD_TO_QUEUE_WITHOUT_CHECKTIME"
    FORWARD_TO_QUEUE_WITH_CHECKTIME = "FORWARD_TO_QUEUE_WITH_CHECKTIME"
    FORWARD_TO_VOICEMAIL = "FORWARD_TO_VOICEMAIL"
    FORWARD_TO_IVR = "FORWARD_TO_IVR"
    FORWARD_TO_EXTERNAL_NUMBER = "FORWARD_TO_EXTERNAL_NUMBER"
    FORWARD_TO_CHECKTIME = "FORWARD_TO_CHECKTIME"
    HANGUP = "HANGUP"
    UNKNOWN = "UNKNOWN"


class GatewayType(StrEnum):
    """Kinds of outbound line an external forward can use."""

    GATEWAY = "GATEWAY"
    BALANCER = "BALANCER"
    TRUNK = "TRUNK"
    VOIP_TERM = "VOIP_TERM"


FORWARDING_TYPES = frozenset(
    {FailoverType.FORWARD_TO_EXTEN, FailoverType.FORWARD_TO_EXTERNAL_NUMBER}
)


@dataclass(frozen=True, slots=True)
class Failover:
    """An extension's (or call group's) failover: type and destination."""

    type: FailoverType
    destination: str | None = None
    destination_name: str | None = None
    gateway_type: GatewayType | None = None
    gateway_id: str | None = None
    gateway_name: str | None = None
    intro: str | None = None
    type_raw: str | None = None

    @property
    def forwards_to_number(self) -> bool:
        """True when calls go on to another extension or an external number."""
        return self.type in FORWARDING_TYPES

    def as_dict(self) -> dict[str, str | None]:
        """A JSON-safe form, e.g. for keeping it across restarts."""
        return {
            "type": self.type_raw or self.type.value,
            "destination": self.destination,
            "destination_name": self.destination_name,
            "gateway_type": self.gateway_type.value if self.gateway_type else None,
            "gateway_id": self.gateway_id,
            "gateway_name": self.gateway_name,
            "intro": self.intro,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of `as_dict`; tolerant of missing keys."""
        raw_type = str(data.get("type") or FailoverType.UNKNOWN.value)
        gateway_type = data.get("gateway_type")
        return cls(
            type=parse_enum(FailoverType, raw_type, FailoverType.UNKNOWN),
            destination=data.get("destination"),
            destination_name=data.get("destination_name"),
            gateway_type=(
                parse_enum(GatewayType, str(gateway_type), None)
                if gateway_type
                else None
            ),
            gateway_id=data.get("gateway_id"),
            gateway_name=data.get("gateway_name"),
            intro=data.get("intro"),
            type_raw=raw_type,
        )


@dataclass(frozen=True, slots=True)
class UserConfig:
    """An extension's configuration, without its secrets."""

    exten: str
    enabled: bool
    first_name: str | None = None
    last_name: str | None = None
    phonebook_manager: bool = False
    vm_enabled: bool = False
    vm_email: str | None = None
    vm_attach_enabled: bool = False
    vm_message_delete: bool = False
    failover: Failover | None = None

    @property
    def name(self) -> str | None:
        """`First Last`, or None when both are empty."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUpdate:
    """A partial change to an extension (`PUT /users/configs/<exten>`).

    Fields left as None are not sent. Secrets cannot be changed through this
    client on purpose.
    """

    first_name: str | None = None
    last_name: str | None = None
    vm_enabled: bool | None = None
    vm_email: str | None = None
    vm_attach_enabled: bool | None = None
    vm_message_delete: bool | None = None
    failover: Failover | None = None


@dataclass(frozen=True, slots=True)
class VoicemailCount:
    """Message counts of one mailbox."""

    mailbox: str
    new: int
    urgent: int
    old: int


class FirmwareSlot(StrEnum):
    """Which of the two firmware images is running."""

    PRIMARY = "primary"
    SECONDARY = "secondary"


@dataclass(frozen=True, slots=True)
class FirmwareInfo:
    """The two firmware images and the running one."""

    primary: str | None
    secondary: str | None
    running: FirmwareSlot | None

    @property
    def running_version(self) -> str | None:
        """Version of the running image."""
        if self.running is FirmwareSlot.SECONDARY:
            return self.secondary
        return self.primary


class FirmwareUpdateStatus(IntEnum):
    """Progress of a firmware update, as the PBX's codes 25-31."""

    IDLE = 25
    INITIALIZING = 26
    DOWNLOADING = 27
    UNCOMPRESSING = 28
    MIGRATING = 29
    SUCCEEDED = 30
    FAILED = 31

    @property
    def key(self) -> str:
        """Lower-case name, usable as a state."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class FirmwareUpdateState:
    """The update status as reported; `status` is None for an unknown code."""

    status: FirmwareUpdateStatus | None
    code: int
    message: str | None = None


class LicenseStatus(StrEnum):
    """Licence state; NOT_REQUIRED for models that need no licence key."""

    ACTIVE = "active"
    DISABLED = "disabled"
    EXPIRED = "expired"
    MISSING = "missing"
    NOT_REQUIRED = "not_required"
    UNKNOWN = "unknown"

    @property
    def allows_api(self) -> bool:
        """Whether the PBX answers the licence-gated endpoints in this state."""
        return self in (LicenseStatus.ACTIVE, LicenseStatus.NOT_REQUIRED)


@dataclass(frozen=True, slots=True)
class LicenseInfo:
    """Licence state and the number of licensed extensions."""

    status: LicenseStatus
    licensed_extensions: int | None = None
    status_raw: str | None = None


class ContactType(StrEnum):
    """System (shared) or private (one user's) phonebook contact."""

    SYSTEM = "system"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class Contact:
    """A phonebook contact."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    type: ContactType | None = None
    phone: str | None = None
    mail: str | None = None
    speed_dial: str | None = None

    @property
    def name(self) -> str | None:
        """`First Last`, or the organization for a company entry."""
        return (
            " ".join(p for p in (self.first_name, self.last_name) if p)
            or self.organization
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactInput:
    """A contact to add (`id` None) or the changes to one (`id` set)."""

    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    mail: str | None = None
    speed_dial: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PhonebookFilter:
    """Search terms; `%` at either end is a wildcard. `any` excludes the others."""

    any: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    phone: str | None = None
    mail: str | None = None


@dataclass(frozen=True, slots=True)
class CallGroupMember:
    """One extension ringing in a call group priority."""

    exten: str
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class CallGroupPriority:
    """Extensions that ring together, before the next priority."""

    id: str
    members: tuple[CallGroupMember, ...] = ()


@dataclass(frozen=True, slots=True)
class CallGroup:
    """A call group (ring group)."""

    id: str
    name: str | None = None
    selection: str | None = None
    enabled: bool = True
    timeout: int | None = None
    failover: Failover | None = None
    priorities: tuple[CallGroupPriority, ...] = ()


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What `create_backup` wrote: its size and what the PBX said of the file.

    `content_type` and `filename` are None when the PBX sends no such header;
    `filename` is a bare name (directories dropped), never a path to trust.
    """

    size: int
    content_type: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class Conference:
    """A conference room, without its PINs."""

    name: str
    enabled: bool
    internal_selection: str | None = None
    external_selection: str | None = None


class Click2CallType(StrEnum):
    """How the PBX interprets the number to call."""

    AUTO = "auto"
    EXTEN = "exten"
    OUT = "out"


def parse_enum[E: StrEnum, D](enum: type[E], raw: str, default: D) -> E | D:
    """Map a raw string to a member by value or name, case-insensitively."""
    wanted = raw.strip()
    for member in enum:
        if wanted.lower() in (member.value.lower(), member.name.lower()):
            return member
    return default
