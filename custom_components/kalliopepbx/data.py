"""What each coordinator delivers: immutable snapshots of one refresh."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .api import (
    CallGroup,
    FirmwareInfo,
    FirmwareUpdateState,
    LicenseInfo,
    Registration,
    UserConfig,
    VoicemailCount,
)


@dataclass(frozen=True, slots=True)
class RegistrationsData:
    """Registration state per extension, and whether changes are pending.

    `pending` is None both when the firmware lacks `/pbx/pending` and when
    it failed this cycle (`pending_failed`).
    """

    registrations: Mapping[str, Registration]
    pending: bool | None
    pending_failed: bool = False
    # Extensions whose phone is registered and answering: counted once here
    # (often in a worker thread), not on every read by the sensors.
    registered_count: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Count the registered extensions."""
        object.__setattr__(
            self,
            "registered_count",
            sum(1 for r in self.registrations.values() if r.registered),
        )

    @property
    def unregistered_count(self) -> int:
        """Enabled extensions without a working registration."""
        return len(self.registrations) - self.registered_count


@dataclass(frozen=True, slots=True)
class VoicemailData:
    """Counts per polled mailbox; mailboxes that failed this cycle are listed."""

    counts: Mapping[str, VoicemailCount]
    failed: frozenset[str] = frozenset()
    # New messages last seen in the mailboxes that failed this cycle: a
    # mailbox that did not answer must not look emptied in the total.
    failed_new: int = 0
    # New messages over every polled mailbox, counted once.
    total_new: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Add up the new messages."""
        object.__setattr__(
            self,
            "total_new",
            sum(count.new for count in self.counts.values()) + self.failed_new,
        )


@dataclass(frozen=True, slots=True)
class SystemData:
    """Licence, firmware, extension configuration and call groups.

    A field is None when the PBX did not answer it this cycle (licence
    refusal, or a bad answer: then `failed` names the endpoint) and
    `unsupported` names endpoints this firmware lacks.
    """

    license: LicenseInfo | None
    license_refused_code: int | None
    firmware: FirmwareInfo | None
    update_state: FirmwareUpdateState | None
    extensions: Mapping[str, UserConfig] | None
    # Call groups by id; None when the PBX did not list them this cycle.
    callgroups: Mapping[str, CallGroup] | None = None
    unsupported: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()

    @property
    def license_problem(self) -> bool | None:
        """True when the licence keeps the API from working."""
        if self.license_refused_code is not None:
            return True
        if self.license is None:
            return None
        return not self.license.status.allows_api
