"""The simulated PBX's state: plain dataclasses plus the mutations used by the
REST handlers, the control API, tests and benchmarks.

Configuration objects (extensions, failovers, callgroups) are frozen and
replaced on change, so the committed configuration kept for `/pbx/revert` is a
cheap shallow copy of two dicts. Runtime data (registrations, voicemail
counts) is mutable and is not part of the committed configuration.

Every mutation goes through a method of `PbxState` that invalidates the
rendered XML kept in `PbxState.cache`; after editing the dataclasses directly,
call `PbxState.invalidate()`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
import hashlib
import random
import re
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .notify import SEVERITIES, Event, Notifications, severity_level

AUTH_SCHEMES = ("v3", "v4")
LICENSE_STATES = ("ACTIVE", "DISABLED", "EXPIRED", "MISSING", "NOT_REQUIRED")
# Licence states that block the API, with the reference's request_not_allowed codes.
GATING_ERRORS: dict[str, tuple[int, str]] = {
    "MISSING": (1, "License missing"),
    "EXPIRED": (2, "License expired"),
    "DISABLED": (3, "License disabled"),
}
FAULT_KINDS = (
    "http500",
    "http401",
    "http403",
    "http404",
    "malformed",
    "truncated",
    "html",
    "empty",
    "delay",
    "reset",
    "request_not_allowed",
    "answer",
    "redirect",
)
FAILOVER_TYPES = (
    "FORWARD_TO_EXTEN",
    "FORWARD_TO_CALLGROUP_WITHOUT_CHECKTIME",
    "FORWARD_TO_CALLGROUP_WITH_CHECKTIME",
    "FORWARD_TO_QUEUE_WITHOUT_CHECKTIME",
    "FORWARD_TO_QUEUE_WITH_CHECKTIME",
    "FORWARD_TO_VOICEMAIL",
    "FORWARD_TO_IVR",
    "FORWARD_TO_EXTERNAL_NUMBER",
    "FORWARD_TO_CHECKTIME",
    "HANGUP",
)
GATEWAY_TYPES = ("GATEWAY", "BALANCER", "TRUNK", "VOIP_TERM")
UPDATE_STATUS_MESSAGES: dict[int, str] = {
    25: "No firmware update in progress",
    26: "Initializing updating process",
    27: "Downloading update",
    28: "Uncompressing file",
    29: "Migrating configuration",
    30: "Updating is successful",
    31: "An error has occurred during update process",
}
BACKUP_ERRORS: dict[int, str] = {
    10: "Invalid backup request",
    11: "Backup not created",
    12: "One or more required field missing",
}
UPDATE_IN_PROGRESS = frozenset({26, 27, 28, 29})
REGISTRATION_STATES = ("OK", "UNREACHABLE", "UNKNOWN")
NONCE_TTL_S = 300.0
EXTEN_RE = re.compile(r"^[0-9]{2,8}$")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def md5_hex(value: str) -> str:
    return hashlib.md5(value.encode("utf-8")).hexdigest()


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_text(value: str, what: str) -> str:
    """Reject characters XML 1.0 cannot carry (the answers must stay well-formed)."""
    if _CONTROL_CHARS.search(value):
        raise ValueError(f"{what} contains control characters")
    return value


@dataclass(frozen=True, slots=True)
class Failover:
    """Where a call goes when nobody answers. Names are derived when rendered."""

    type: str = "HANGUP"
    value: str = ""
    intro: str = ""
    gateway_type: str = ""
    gateway_id: str = ""


@dataclass(frozen=True, slots=True)
class Extension:
    exten: str
    first_name: str
    last_name: str
    sip_secret: str
    enabled: bool = True
    gui_secret_md5: str = ""
    phonebook_manager: bool = False
    vm_enabled: bool = False
    vm_secret: str = ""
    vm_email: str = ""
    vm_attach_enabled: bool = False
    vm_message_delete: bool = False
    failover: Failover = field(default_factory=Failover)

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(slots=True)
class Registration:
    """SIP registration as `GET /users/registrations/` reports it (raw strings)."""

    status: str = "UNKNOWN"
    rtt_ms: int | None = None
    contact: str = ""
    ip: str = ""
    port: str = ""
    useragent: str = ""


@dataclass(slots=True)
class VoicemailCount:
    urgent: int = 0
    new: int = 0
    old: int = 0


@dataclass(frozen=True, slots=True)
class Gateway:
    id: int
    type: str
    name: str


@dataclass(frozen=True, slots=True)
class Priority:
    id: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Callgroup:
    id: str
    name: str
    selection: str = ""
    enabled: bool = True
    timeout: int = 20
    failover: Failover = field(default_factory=Failover)
    priorities: tuple[Priority, ...] = ()


@dataclass(frozen=True, slots=True)
class Conference:
    name: str
    enabled: bool
    internal: str
    external: str
    admin_pin: str
    user_pin: str


@dataclass(slots=True)
class Contact:
    id: int
    first_name: str
    last_name: str
    phone: str
    organization: str = ""
    organizational_unit: str = ""
    mail: str = ""
    speed_dial: str = ""
    owner: str = "-1"  # "-1": system contact; an extension: that user's private contact

    @property
    def type(self) -> str:
        return "system" if self.owner == "-1" else "private"


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """One call. Times are aware datetimes in the PBX's time zone."""

    id: int
    unique_id: str
    direction: int  # 1 inbound, 2 outbound, 4 internal
    caller_num: str
    caller_name: str
    called_num: str
    called_name: str
    status: int  # 1 failed, 2 busy, 3 congestion, 4 no answer, 8 answered
    start: datetime
    answer: datetime | None
    end: datetime
    called_callgroup: str = ""
    gateway_id: str = ""
    gateway_name: str = ""
    answered_by: str = ""
    account_code: str = ""

    @property
    def billsec(self) -> int:
        if self.answer is None:
            return 0
        return int((self.end - self.answer).total_seconds())

    @property
    def duration(self) -> int:
        return int((self.end - self.start).total_seconds())


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """A call started with `POST /click2call`."""

    exten: str
    number: str
    type: str
    time: datetime  # UTC, by the simulator's clock
    unique_id: str


@dataclass(slots=True)
class Fault:
    path: str
    kind: str
    remaining: int
    delay_s: float | None = None
    # What an "answer" fault sends instead: a whole XML document.
    body: bytes | None = None
    # Match the path exactly, not as a prefix (`/system/firmware` alone).
    exact: bool = False


@dataclass(slots=True)
class RenderCache:
    """Rendered XML, filled by `xml_out`, emptied by the state's mutations.

    `fragments[kind][exten]` holds one rendered element per extension;
    `inner[kind]` the whole list element; `full[kind]` the encoded answer
    without request_id.
    """

    fragments: dict[str, dict[str, str]] = field(default_factory=dict)
    inner: dict[str, str] = field(default_factory=dict)
    full: dict[str, bytes] = field(default_factory=dict)
    order: list[str] | None = None

    def clear(self) -> None:
        self.fragments.clear()
        self.inner.clear()
        self.full.clear()
        self.order = None

    def drop(self, kind: str, extens: Iterable[str] = ()) -> None:
        self.inner.pop(kind, None)
        self.full.pop(kind, None)
        frags = self.fragments.get(kind)
        if frags:
            for exten in extens:
                frags.pop(exten, None)


def _default_tz(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@dataclass(eq=False)
class PbxState:
    """Everything the simulated PBX knows. Build one with `build_scenario`."""

    auth: str = "v3"
    password: str = "admin"
    domain: str = "default"
    salt: str = "b5a8fdcf2f8d5acdad33c4a072a97d7a"
    serial: str = "KPBX-SIM-0001"
    firmware_primary: str = "3.9.6-2774"
    firmware_secondary: str = "3.9.5-2741"
    firmware_running: str = "primary"
    update_status: int = 25
    license_status: str = "ACTIVE"
    licensed_exten: int = 10
    licensed_callgroups: int = 50
    timezone: str = "Europe/Rome"
    privacy_password: str = "privacy"
    extensions: dict[str, Extension] = field(default_factory=dict)
    registrations: dict[str, Registration] = field(default_factory=dict)
    voicemails: dict[str, VoicemailCount] = field(default_factory=dict)
    gateways: dict[int, Gateway] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    ivrs: dict[str, str] = field(default_factory=dict)
    checktimes: dict[str, str] = field(default_factory=dict)
    callgroups: dict[str, Callgroup] = field(default_factory=dict)
    conferences: list[Conference] = field(default_factory=list)
    contacts: dict[int, Contact] = field(default_factory=dict)
    cdr: list[CdrRecord] = field(default_factory=list)
    placed_calls: list[PlacedCall] = field(default_factory=list)
    # Scripted calls still ringing or talking, by uniqueid.
    active_calls: dict[str, Any] = field(default_factory=dict)
    call_seq: int = 0
    # Extensions whose failover does not tick "generate event" (missed calls).
    no_missed_call_event: set[str] = field(default_factory=set)
    notifications: Notifications = field(default_factory=Notifications)
    pending: bool = False
    committed_extensions: dict[str, Extension] = field(default_factory=dict)
    committed_callgroups: dict[str, Callgroup] = field(default_factory=dict)
    latency_ms: float = 0.0
    clock_offset_s: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    disabled_endpoints: list[str] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    reload_count: int = 0
    restart_count: int = 0
    # POST /system/backup/create: the file's size, or the error code answered.
    backup_size: int = 64 * 1024
    backup_error: int | None = None
    backup_error_content_type: str = "text/xml"
    backup_disposition: str | None = 'attachment; filename="kalliopepbx-backup.tgz"'
    backups_created: int = 0
    # Seconds the PBX spends building a backup before it answers.
    backup_delay_s: float = 0.0
    # Seconds between the chunks of a backup: a slow line.
    backup_chunk_delay_s: float = 0.0
    # PUT /system/restart and /system/halt: seconds the PBX is then unreachable.
    restart_down_s: float = 2.0
    halt_down_s: float = 30.0
    down_until: float = 0.0
    down_reason: str = ""
    system_restarts: int = 0
    system_halts: int = 0
    used_nonces: dict[str, float] = field(default_factory=dict)
    cache: RenderCache = field(default_factory=RenderCache)
    tz: tzinfo = field(init=False, repr=False, default=UTC)

    def __post_init__(self) -> None:
        if self.auth not in AUTH_SCHEMES:
            raise ValueError(f"auth must be one of {AUTH_SCHEMES}")
        if self.license_status not in LICENSE_STATES:
            raise ValueError(f"license_status must be one of {LICENSE_STATES}")
        self.tz = _default_tz(self.timezone)

    # ------------------------------------------------------------ clock

    def now(self) -> datetime:
        """The simulator's notion of now (UTC): real time plus the clock offset."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def local_now(self) -> datetime:
        """Now in the PBX's local time zone (CDR times are local)."""
        return self.now().astimezone(self.tz)

    # ------------------------------------------------------------ auth

    @property
    def api_password(self) -> str:
        """3.x Basic password: md5 hex of the web admin password."""
        return md5_hex(self.password)

    @property
    def digest_password(self) -> str:
        """4.x digestPassword = sha256_hex(password + "{" + salt + "}")."""
        return sha256_hex(f"{self.password}{{{self.salt}}}")

    def use_nonce(self, nonce: str) -> bool:
        """Remember a 4.x nonce; False if it was already used in the last 5 minutes."""
        now = time.monotonic()
        if len(self.used_nonces) > 256:
            cutoff = now - NONCE_TTL_S
            self.used_nonces = {n: t for n, t in self.used_nonces.items() if t > cutoff}
        seen = self.used_nonces.get(nonce)
        if seen is not None and now - seen <= NONCE_TTL_S:
            return False
        self.used_nonces[nonce] = now
        return True

    def set_password(self, password: str) -> None:
        if not password:
            raise ValueError("password must not be empty")
        self.password = password

    # ------------------------------------------------------------ helpers

    def sorted_extens(self) -> list[str]:
        order = self.cache.order
        if order is None:
            order = self.cache.order = sorted(self.extensions, key=_exten_key)
        return order

    def invalidate(self) -> None:
        """Forget every rendered answer (after editing the dataclasses directly)."""
        self.cache.clear()

    def registration(self, exten: str) -> Registration:
        reg = self.registrations.get(exten)
        if reg is None:
            reg = self.registrations[exten] = Registration()
        return reg

    def is_internal_number(self, number: str) -> bool:
        """An extension or a callgroup selection: never masked in the CDR."""
        if number in self.extensions:
            return True
        return any(cg.selection == number for cg in self.callgroups.values())

    def failover_names(self, failover: Failover) -> tuple[str, str]:
        """The <name> and <gateway_name> the PBX shows for a failover."""
        kind, value = failover.type, failover.value
        name = ""
        if kind == "FORWARD_TO_EXTEN":
            ext = self.extensions.get(value)
            name = ext.display_name if ext else ""
        elif kind.startswith("FORWARD_TO_CALLGROUP"):
            group = self.callgroups.get(value)
            name = group.name if group else ""
        elif kind.startswith("FORWARD_TO_QUEUE"):
            name = self.queues.get(value, "")
        elif kind == "FORWARD_TO_IVR":
            name = self.ivrs.get(value, "")
        elif kind == "FORWARD_TO_CHECKTIME":
            name = self.checktimes.get(value, "")
        gateway_name = ""
        if kind == "FORWARD_TO_EXTERNAL_NUMBER" and failover.gateway_id.isdigit():
            gateway = self.gateways.get(int(failover.gateway_id))
            gateway_name = gateway.name if gateway else ""
        return name, gateway_name

    def failover_dict(self, failover: Failover) -> dict[str, str]:
        name, gateway_name = self.failover_names(failover)
        return {
            "intro": failover.intro,
            "type": failover.type,
            "name": name,
            "value": failover.value,
            "gateway_type": failover.gateway_type,
            "gateway_id": failover.gateway_id,
            "gateway_name": gateway_name,
        }

    def get_failover(self, exten: str) -> dict[str, str] | None:
        """An extension's failover with derived names, or None if unknown."""
        ext = self.extensions.get(exten)
        return None if ext is None else self.failover_dict(ext.failover)

    def extension_dict(self, exten: str) -> dict[str, Any] | None:
        """Everything about one extension (control API, checks)."""
        ext = self.extensions.get(exten)
        if ext is None:
            return None
        reg = self.registration(exten)
        counts = self.voicemails.get(exten)
        return {
            "exten": ext.exten,
            "first_name": ext.first_name,
            "last_name": ext.last_name,
            "enabled": ext.enabled,
            "sip_secret": ext.sip_secret,
            "gui_secret_md5": ext.gui_secret_md5,
            "phonebook_manager": ext.phonebook_manager,
            "vm_enabled": ext.vm_enabled,
            "vm_secret": ext.vm_secret,
            "vm_email": ext.vm_email,
            "vm_attach_enabled": ext.vm_attach_enabled,
            "vm_message_delete": ext.vm_message_delete,
            "failover": self.failover_dict(ext.failover),
            "committed_failover": (
                self.failover_dict(self.committed_extensions[exten].failover)
                if exten in self.committed_extensions
                else None
            ),
            "registration": {
                "status": reg.status,
                "rtt_ms": reg.rtt_ms,
                "contact": reg.contact,
                "ip": reg.ip,
                "port": reg.port,
                "useragent": reg.useragent,
            },
            "voicemail": (
                {"urgent": counts.urgent, "new": counts.new, "old": counts.old}
                if ext.vm_enabled and counts is not None
                else None
            ),
            "missed_call_event": exten not in self.no_missed_call_event,
        }

    def summary(self) -> dict[str, Any]:
        enabled = [e for e in self.extensions.values() if e.enabled]
        registered = sum(
            1 for e in enabled if self.registration(e.exten).status == "OK"
        )
        return {
            "auth": self.auth,
            "domain": self.domain,
            "serial": self.serial,
            "extensions": len(self.extensions),
            "enabled_extensions": len(enabled),
            "registered_extensions": registered,
            "mailboxes": sum(1 for e in self.extensions.values() if e.vm_enabled),
            "pending": self.pending,
            "license": {
                "status": self.license_status,
                "licensed_exten": self.licensed_exten,
            },
            "latency_ms": self.latency_ms,
            "clock_offset_s": self.clock_offset_s,
            "now": self.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timezone": self.timezone,
            "faults": [
                {
                    "path": f.path,
                    "kind": f.kind,
                    "remaining": f.remaining,
                    "delay_s": f.delay_s,
                }
                for f in self.faults
            ],
            "disabled_endpoints": list(self.disabled_endpoints),
            "firmware": {
                "primary": self.firmware_primary,
                "secondary": self.firmware_secondary,
                "running": self.firmware_running,
                "update_status": self.update_status,
            },
            "power": self.power(),
            "backup": {
                "size": self.backup_size,
                "error": self.backup_error,
                "error_content_type": self.backup_error_content_type,
                "disposition": self.backup_disposition,
                "delay_s": self.backup_delay_s,
                "chunk_delay_s": self.backup_chunk_delay_s,
                "created": self.backups_created,
            },
            "system_restarts": self.system_restarts,
            "system_halts": self.system_halts,
            "reload_count": self.reload_count,
            "restart_count": self.restart_count,
            "placed_calls": len(self.placed_calls),
            "cdr_records": len(self.cdr),
            "contacts": len(self.contacts),
            "callgroups": sorted(self.callgroups),
        }

    # ------------------------------------------------------------ runtime mutations

    def set_registration(
        self,
        exten: str,
        status: str,
        rtt_ms: int | None = None,
        contact: str | None = None,
        ip: str | None = None,
        port: str | int | None = None,
        useragent: str | None = None,
    ) -> None:
        """Change what the PBX reports for one extension's SIP registration.

        "OK" without details keeps the last known contact (or invents one) and
        an rtt; "UNREACHABLE" keeps the contact and drops the rtt; "UNKNOWN"
        (never registered) drops both; any other raw string is reported as is.
        """
        if exten not in self.extensions:
            raise KeyError(exten)
        status = check_text(status, "status")
        reg = self.registration(exten)
        reg.status = status
        if status == "OK":
            reg.rtt_ms = rtt_ms if rtt_ms is not None else (reg.rtt_ms or 15)
            if not reg.contact and contact is None:
                fill_contact(reg, exten, _exten_key(exten)[0] % 100000)
        else:
            reg.rtt_ms = rtt_ms
            if status == "UNKNOWN":  # never registered: nothing known about it
                reg.contact = reg.ip = reg.port = reg.useragent = ""
        for attr, value in (
            ("contact", contact),
            ("ip", ip),
            ("port", port),
            ("useragent", useragent),
        ):
            if value is not None:
                setattr(reg, attr, check_text(str(value), attr))
        self.cache.drop("registrations", (exten,))

    def change_registrations(self, fraction: float, seed: int = 1) -> list[str]:
        """Flip the status of `fraction` of the enabled extensions (OK <-> UNREACHABLE)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        enabled = [e for e in self.sorted_extens() if self.extensions[e].enabled]
        count = round(len(enabled) * fraction)
        if fraction > 0 and count == 0 and enabled:
            count = 1
        rng = random.Random(seed)
        chosen = sorted(rng.sample(enabled, count), key=_exten_key)
        for exten in chosen:
            reg = self.registration(exten)
            if reg.status == "OK":
                reg.status = "UNREACHABLE"
                reg.rtt_ms = None
            else:
                reg.status = "OK"
                reg.rtt_ms = rng.randint(3, 60)
                if not reg.contact:
                    fill_contact(reg, exten, _exten_key(exten)[0] % 100000)
        self.cache.drop("registrations", chosen)
        return chosen

    def set_voicemail(
        self,
        mailbox: str,
        new: int | None = None,
        urgent: int | None = None,
        old: int | None = None,
    ) -> None:
        ext = self.extensions.get(mailbox)
        if ext is None:
            raise KeyError(mailbox)
        if not ext.vm_enabled:
            raise ValueError(f"extension {mailbox} has no voicemail")
        counts = self.voicemails.setdefault(mailbox, VoicemailCount())
        for attr, value in (("new", new), ("urgent", urgent), ("old", old)):
            if value is not None:
                if value < 0:
                    raise ValueError(f"{attr} must not be negative")
                setattr(counts, attr, int(value))

    def set_license(self, status: str, licensed_exten: int | None = None) -> None:
        if status not in LICENSE_STATES:
            raise ValueError(f"license status must be one of {LICENSE_STATES}")
        if licensed_exten is not None and licensed_exten < 0:
            raise ValueError("licensed_exten must not be negative")
        self.license_status = status
        if licensed_exten is not None:
            self.licensed_exten = licensed_exten

    def set_latency(self, ms: float) -> None:
        if ms < 0:
            raise ValueError("latency must not be negative")
        self.latency_ms = float(ms)

    def set_clock_offset(self, seconds: float) -> None:
        self.clock_offset_s = float(seconds)

    def set_pending(self, pending: bool) -> None:
        self.pending = bool(pending)

    def set_update_status(self, code: int) -> None:
        if code not in UPDATE_STATUS_MESSAGES:
            raise ValueError("update status code must be 25..31")
        self.update_status = code

    def set_backup(
        self,
        size: int | None = None,
        error: int | None = None,
        error_content_type: str | None = None,
        disposition: str | None = None,
        *,
        delay_s: float | None = None,
        chunk_delay_s: float | None = None,
        keep_error: bool = False,
        keep_disposition: bool = True,
    ) -> None:
        """What the next backups are: `size` bytes, or error `error` (None: none).

        `delay_s`: how long each takes to build before its answer starts;
        `chunk_delay_s`: the pause between its chunks.
        """
        if size is not None:
            if size < 0:
                raise ValueError("size must not be negative")
            self.backup_size = size
        if delay_s is not None:
            if not 0 <= delay_s <= 3600:
                raise ValueError("delay_s must be 0..3600 s")
            self.backup_delay_s = float(delay_s)
        if chunk_delay_s is not None:
            if not 0 <= chunk_delay_s <= 60:
                raise ValueError("chunk_delay_s must be 0..60 s")
            self.backup_chunk_delay_s = float(chunk_delay_s)
        if not keep_error:
            if error is not None and error not in BACKUP_ERRORS:
                raise ValueError(f"backup error must be one of {sorted(BACKUP_ERRORS)}")
            self.backup_error = error
        if error_content_type is not None:
            self.backup_error_content_type = error_content_type
        if not keep_disposition:
            self.backup_disposition = disposition

    # ------------------------------------------------------------ power

    def set_power_times(
        self, restart_s: float | None = None, halt_s: float | None = None
    ) -> None:
        for value in (restart_s, halt_s):
            if value is not None and not 0 <= value <= 3600:
                raise ValueError("down times must be 0..3600 s")
        if restart_s is not None:
            self.restart_down_s = float(restart_s)
        if halt_s is not None:
            self.halt_down_s = float(halt_s)

    def power_off(self, reason: str, seconds: float) -> None:
        """Go unreachable for `seconds`; unapplied changes are lost (the
        reference: pending changes do not survive a reboot or power failure)."""
        self.down_until = time.monotonic() + seconds
        self.down_reason = reason
        if self.pending:
            self.revert()

    def power_on(self) -> None:
        self.down_until = 0.0
        self.down_reason = ""

    def power(self) -> str:
        """`on`, or why the PBX is unreachable (`restarting`, `halted`)."""
        if self.down_until and time.monotonic() < self.down_until:
            return self.down_reason
        return "on"

    def reset_counters(self) -> None:
        self.counters.clear()

    # ------------------------------------------------------------ faults and endpoints

    def add_fault(
        self,
        path: str,
        kind: str,
        count: int = 1,
        delay_s: float | None = None,
        body: bytes | None = None,
        *,
        exact: bool = False,
    ) -> None:
        """The next `count` REST requests whose path (without /rest) starts with
        `path` (is `path`, if `exact`) get fault `kind` instead of the normal
        answer; kind "answer" sends `body` (e.g. an error code the PBX
        documents) with HTTP 200."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be at least 1")
        if kind == "delay" and (delay_s is None or delay_s < 0):
            raise ValueError("a delay fault needs delay_s >= 0")
        if kind == "answer" and body is None:
            raise ValueError("an answer fault needs a body")
        self.faults.append(Fault(path, kind, count, delay_s, body, exact))

    def clear_faults(self) -> None:
        self.faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        """The first armed fault matching `path`, consuming one of its uses."""
        for index, fault in enumerate(self.faults):
            if path == fault.path or (not fault.exact and path.startswith(fault.path)):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self.faults[index]
                return fault
        return None

    def disable_endpoint(self, prefix: str) -> None:
        if prefix not in self.disabled_endpoints:
            self.disabled_endpoints.append(prefix)

    def enable_endpoint(self, prefix: str) -> None:
        if prefix in self.disabled_endpoints:
            self.disabled_endpoints.remove(prefix)

    def endpoint_disabled(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.disabled_endpoints)

    # ------------------------------------------------------------ extensions

    def add_extension(
        self,
        exten: str,
        first_name: str,
        last_name: str,
        vm_enabled: bool = False,
        registered: bool = True,
    ) -> Extension:
        """Add an extension as if an admin had added and applied it."""
        if not EXTEN_RE.match(exten):
            raise ValueError("exten must be 2 to 8 digits")
        if exten in self.extensions:
            raise ValueError(f"extension {exten} already exists")
        if not first_name or not last_name:
            raise ValueError("first_name and last_name are required")
        check_text(first_name, "first_name")
        check_text(last_name, "last_name")
        seed = random.Random(f"{exten}:{first_name}:{last_name}")
        ext = Extension(
            exten=exten,
            first_name=first_name,
            last_name=last_name,
            sip_secret=_secret(seed, 12),
            gui_secret_md5=md5_hex(_secret(seed, 10)),
            vm_enabled=vm_enabled,
            vm_secret=f"{seed.randint(0, 9999):04d}" if vm_enabled else "",
            vm_email=f"{email_local(first_name, last_name)}@example.it"
            if vm_enabled
            else "",
            failover=default_failover(exten, vm_enabled),
        )
        self.extensions[exten] = ext
        self.committed_extensions[exten] = ext
        if vm_enabled:
            self.voicemails.setdefault(exten, VoicemailCount())
        reg = self.registrations[exten] = Registration()
        if registered:
            reg.status = "OK"
            reg.rtt_ms = 10 + seed.randint(0, 30)
            fill_contact(reg, exten, _exten_key(exten)[0] % 100000)
        self.cache.clear()
        return ext

    def remove_extension(self, exten: str) -> None:
        """Remove an extension as if an admin had removed it and applied."""
        if exten not in self.extensions:
            raise KeyError(exten)
        self._drop_extension(exten)
        self.committed_extensions.pop(exten, None)
        self.committed_callgroups = {
            gid: _without_member(group, exten)
            for gid, group in self.committed_callgroups.items()
        }

    # ------------------------------------------------------------ configuration (pending)

    def save_extension(self, ext: Extension) -> None:
        """Store an added or changed extension (REST): the PBX becomes pending."""
        old = self.extensions.get(ext.exten)
        self.extensions[ext.exten] = ext
        if old is None:
            self.registrations.setdefault(ext.exten, Registration())
            self.cache.clear()
        elif old.display_name != ext.display_name:
            self.cache.clear()  # other failovers and callgroups show this name
        else:
            for kind in ("brief", "configs"):
                self.cache.drop(kind, (ext.exten,))
            self.cache.drop("registrations")
        if ext.vm_enabled:
            self.voicemails.setdefault(ext.exten, VoicemailCount())
        self.pending = True

    def delete_extension(self, exten: str) -> None:
        """Remove an extension (REST): also from callgroups; the PBX becomes pending."""
        self._drop_extension(exten)
        self.pending = True

    def _drop_extension(self, exten: str) -> None:
        del self.extensions[exten]
        self.no_missed_call_event.discard(exten)
        self.callgroups = {
            gid: _without_member(group, exten) for gid, group in self.callgroups.items()
        }
        self.cache.clear()

    def save_callgroup(self, group: Callgroup) -> None:
        self.callgroups[group.id] = group
        self.cache.clear()
        self.pending = True

    def delete_callgroup(self, group_id: str) -> None:
        del self.callgroups[group_id]
        self.cache.clear()
        self.pending = True

    def next_callgroup_id(self) -> str:
        ids = [
            int(g)
            for g in (*self.callgroups, *self.committed_callgroups)
            if g.isdigit()
        ]
        return str(max(ids, default=0) + 1)

    def apply(self) -> None:
        """Commit the current configuration (PUT /pbx/apply)."""
        self.committed_extensions = dict(self.extensions)
        self.committed_callgroups = dict(self.callgroups)
        self.pending = False

    def revert(self) -> None:
        """Go back to the committed configuration (PUT /pbx/revert)."""
        self.extensions = dict(self.committed_extensions)
        self.callgroups = dict(self.committed_callgroups)
        for exten, ext in self.extensions.items():
            self.registrations.setdefault(exten, Registration())
            if ext.vm_enabled:
                self.voicemails.setdefault(exten, VoicemailCount())
        self.pending = False
        self.cache.clear()

    # ------------------------------------------------------------ events

    def emit_event(
        self,
        name: str,
        params: dict[str, str],
        *,
        description: str = "",
        severity: int | str = SEVERITIES["INFO"],
    ) -> Event:
        """Emit a PBX event: it gets the next event id and the PBX clock's time,
        and goes to every enabled notification list entry for its name."""
        return self.notifications.emit(
            check_text(name, "name"),
            {check_text(k, "param"): check_text(v, k) for k, v in params.items()},
            timestamp=self.now().timestamp(),
            description=check_text(description, "description"),
            severity=severity_level(severity),
        )

    def set_missed_call_event(self, exten: str, generate: bool) -> None:
        """The failover's "generate event" box: pbx.extension.missedcall or not."""
        if exten not in self.extensions:
            raise KeyError(exten)
        if generate:
            self.no_missed_call_event.discard(exten)
        else:
            self.no_missed_call_event.add(exten)

    def next_unique_id(self) -> str:
        """`<epoch>.<sequence>`, the shape of the PBX's uniqueid."""
        self.call_seq += 1
        return f"{int(self.now().timestamp())}.{self.call_seq}"

    # ------------------------------------------------------------ calls

    def add_cdr(self, **fields: Any) -> CdrRecord:
        """Append a call record with the next id (fields as in CdrRecord)."""
        next_id = max((r.id for r in self.cdr), default=0) + 1
        record = CdrRecord(id=next_id, **fields)
        self.cdr.append(record)
        return record

    def record_click2call(self, exten: str, number: str, call_type: str) -> PlacedCall:
        """Remember a click-to-call and add its CDR record."""
        now = self.now()
        local = now.astimezone(self.tz)
        next_id = max((r.id for r in self.cdr), default=0) + 1
        unique_id = f"{int(now.timestamp())}.{next_id}"
        internal = call_type == "exten" or (
            call_type == "auto" and self.is_internal_number(number)
        )
        caller = self.extensions.get(exten)
        callee = self.extensions.get(number) if internal else None
        gateway = None if internal else next(iter(self.gateways.values()), None)
        self.cdr.append(
            CdrRecord(
                id=next_id,
                unique_id=unique_id,
                direction=4 if internal else 2,
                caller_num=exten,
                caller_name=caller.display_name if caller else "",
                called_num=number,
                called_name=callee.display_name if callee else "",
                status=8,
                start=local,
                answer=local,
                end=local,
                gateway_id=str(gateway.id) if gateway else "",
                gateway_name=gateway.name if gateway else "",
                answered_by=exten,
                account_code="click2call",
            )
        )
        call = PlacedCall(exten, number, call_type, now, unique_id)
        self.placed_calls.append(call)
        return call


def _exten_key(exten: str) -> tuple[int, str]:
    return (int(exten), exten) if exten.isdigit() else (1 << 62, exten)


def _without_member(group: Callgroup, exten: str) -> Callgroup:
    if not any(exten in p.members for p in group.priorities):
        return group
    return replace(
        group,
        priorities=tuple(
            Priority(p.id, tuple(m for m in p.members if m != exten))
            for p in group.priorities
        ),
    )


def default_failover(exten: str, vm_enabled: bool) -> Failover:
    """Voicemail when the user has a mailbox, otherwise hang up."""
    if vm_enabled:
        return Failover(type="FORWARD_TO_VOICEMAIL", value=exten)
    return Failover()


_SECRET_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _secret(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_SECRET_ALPHABET) for _ in range(length))


_ASCII = str.maketrans("àáèéìíòóùúÀÁÈÉÌÍÒÓÙÚ", "aaeeiioouuAAEEIIOOUU", "' ")


def email_local(first_name: str, last_name: str) -> str:
    """`niccolo.luca` for Niccolò Lucà: mailbox names are plain ASCII."""
    return f"{first_name}.{last_name}".translate(_ASCII).lower()


USER_AGENTS = (
    "Yealink SIP-T46S 66.86.0.15",
    "Yealink SIP-T54W 96.86.0.100",
    "Yealink SIP-T31P 124.86.0.40",
    "snom D785/10.1.73.16",
    "snom D735/10.1.54.13",
    "Grandstream GXP2170 1.0.11.3",
    "Grandstream GRP2614 1.0.5.67",
    "Cisco/SPA504G-7.6.2e",
    "Gigaset N670 IP PRO/83.V2.30.0",
    "Zoiper rv2.10.20.1",
    "MicroSIP/3.21.3",
    "Linphone-Desktop/5.2.4 (belle-sip/5.2.98)",
)


def fill_contact(reg: Registration, exten: str, index: int) -> None:
    """A plausible LAN contact for an extension that never registered."""
    third, fourth = 1 + (index // 240) % 250, 10 + index % 240
    reg.ip = f"192.168.{third}.{fourth}"
    softphone = index % 9 == 0
    reg.port = str(50000 + (index * 7919) % 15000) if softphone else "5060"
    reg.contact = f"sip:{exten}@{reg.ip}:{reg.port}"
    reg.useragent = USER_AGENTS[index % len(USER_AGENTS)]
