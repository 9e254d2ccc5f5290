"""How one PBX is doing: reachability, licence and clock, as logs and repair issues.

Three coordinators share one `PbxHealth`, so the user reads one log line when
a PBX is lost and one when it is back, and one repair issue per problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set as AbstractSet

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .api import (
    KalliopeClockSkewError,
    KalliopeError,
    KalliopeLicenseError,
    LicenseInfo,
    printable,
)
from .const import DOMAIN, LOGGER

# A skew that moved less than this keeps the existing issue text.
_SKEW_REPORT_STEP_SECONDS = 60


@callback
def async_show_issue(
    hass: HomeAssistant,
    issue_id: str,
    translation_key: str,
    placeholders: dict[str, str],
    *,
    severity: ir.IssueSeverity = ir.IssueSeverity.ERROR,
    fix_data: dict[str, str | int | float | None] | None = None,
) -> None:
    """Create or update a repair issue; `fix_data` makes it fixable by a flow.

    None survives a restart: each is raised again by what it reports on.
    """
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=fix_data is not None,
        is_persistent=False,
        severity=severity,
        data=fix_data,
        translation_key=translation_key,
        translation_placeholders=placeholders,
    )


class PbxHealth:
    """Reachability, licence and clock state of one PBX."""

    def __init__(self, hass: HomeAssistant, entry_id: str, title: str) -> None:
        """Start optimistic: the entry was set up against a working PBX."""
        self._hass = hass
        self._entry_id = entry_id
        self._title = title
        self.available = True
        self.license: LicenseInfo | None = None
        self.license_refused_code: int | None = None
        self.clock_skew: float | None = None
        self.on_license_refusal_change: Callable[[], None] | None = None
        # Sources (coordinators) whose last refresh failed: the PBX is back
        # when none is left, so a source failing alone does not flap the log.
        self._failing: set[str] = set()
        self._recovery_callbacks: dict[str, Callable[[], None]] = {}
        # Endpoint -> what failed, per source, for endpoints that failed while
        # the rest of their source answered.
        self._failing_endpoints: dict[str, dict[str, str]] = {}

    @property
    def license_issue_id(self) -> str:
        """Repair issue id of this PBX's licence problem."""
        return f"license_problem_{self._entry_id}"

    @property
    def clock_skew_issue_id(self) -> str:
        """Repair issue id of this PBX's clock skew."""
        return f"clock_skew_{self._entry_id}"

    @callback
    def on_recovery(self, source: str, refresh: Callable[[], None]) -> None:
        """Call `refresh` when another source finds the PBX answering again."""
        self._recovery_callbacks[source] = refresh

    @callback
    def recovered(self, source: str) -> None:
        """`source` worked again after failing: the others need not wait."""
        for other, refresh in list(self._recovery_callbacks.items()):
            if other != source:
                refresh()

    @callback
    def succeeded(self, source: str = "") -> None:
        """A refresh of licence-gated data worked: all is well."""
        self._reachable(source)
        self._clear_clock_skew()
        if self._set_refusal(None) and self.on_license_refusal_change:
            self.on_license_refusal_change()

    @callback
    def system_refreshed(
        self,
        license_info: LicenseInfo | None,
        refused_code: int | None,
        source: str = "system",
    ) -> None:
        """The system refresh worked, possibly only for the licence endpoint."""
        self._reachable(source)
        self._clear_clock_skew()
        if license_info is not None:
            self.license = license_info
        self._set_refusal(refused_code)
        self._update_license_issue()

    @callback
    def failed(self, err: KalliopeError, source: str = "") -> None:
        """A refresh failed: log once, raise the matching repair issue."""
        if isinstance(err, KalliopeLicenseError):
            self._reachable(source)
            if self._set_refusal(err.code) and self.on_license_refusal_change:
                self.on_license_refusal_change()
            return
        if isinstance(err, KalliopeClockSkewError):
            self._set_clock_skew(err.skew_seconds)
        self._failing.add(source)
        if self.available:
            self.available = False
            # The error can quote the PBX's own message: keep it on one line.
            LOGGER.info(
                "%s is unavailable: %s", printable(self._title), printable(str(err))
            )

    @callback
    def endpoints_answered(
        self,
        source: str,
        errors: Mapping[str, KalliopeError],
        unsupported: AbstractSet[str] = frozenset(),
    ) -> None:
        """A refresh of `source` worked apart from `errors` (endpoint -> error).

        One line when endpoints start failing, one when they answer again or
        are found not to be offered at all (`unsupported`).
        """
        failing = self._failing_endpoints.setdefault(source, {})
        lost = {name: err for name, err in errors.items() if name not in failing}
        gone = [
            failing.pop(name)
            for name in list(failing)
            if name not in errors and name in unsupported
        ]
        back = [failing.pop(name) for name in list(failing) if name not in errors]
        if gone:
            LOGGER.info(
                "%s: %s not found on the PBX for a while, taken as not offered",
                self._title,
                ", ".join(gone),
            )
        if lost:
            LOGGER.info(
                "%s: part of its data is unavailable: %s",
                self._title,
                "; ".join(str(err) for err in lost.values()),
            )
            failing.update(
                (name, getattr(err, "endpoint", name)) for name, err in lost.items()
            )
        if back:
            LOGGER.info(
                "%s: data from %s is available again", self._title, ", ".join(back)
            )

    @property
    def license_problem(self) -> bool:
        """Whether the licence keeps the API from answering."""
        if self.license_refused_code is not None:
            return True
        return self.license is not None and not self.license.status.allows_api

    @callback
    def _reachable(self, source: str) -> None:
        self._failing.discard(source)
        if not self.available and not self._failing:
            self.available = True
            LOGGER.info("%s is available again", printable(self._title))

    @callback
    def _clear_clock_skew(self) -> None:
        if self.clock_skew is not None:
            self.clock_skew = None
            ir.async_delete_issue(self._hass, DOMAIN, self.clock_skew_issue_id)

    @callback
    def _set_refusal(self, code: int | None) -> bool:
        """Record a licence refusal (None: none); True when it changed."""
        if code == self.license_refused_code:
            return False
        self.license_refused_code = code
        self._update_license_issue()
        return True

    @callback
    def _update_license_issue(self) -> None:
        if not self.license_problem:
            ir.async_delete_issue(self._hass, DOMAIN, self.license_issue_id)
            return
        status = (
            self.license.status.value
            if self.license is not None and not self.license.status.allows_api
            else {1: "missing", 2: "expired", 3: "disabled"}.get(
                self.license_refused_code or 0, "unknown"
            )
        )
        async_show_issue(
            self._hass,
            self.license_issue_id,
            "license_problem",
            {"title": self._title, "status": status},
        )

    @callback
    def _set_clock_skew(self, skew: float) -> None:
        if (
            self.clock_skew is not None
            and abs(skew - self.clock_skew) < _SKEW_REPORT_STEP_SECONDS
        ):
            return
        self.clock_skew = skew
        async_show_issue(
            self._hass,
            self.clock_skew_issue_id,
            "clock_skew",
            {"title": self._title, "skew": f"{skew:+.0f}"},
        )

    @callback
    def clear(self) -> None:
        """Remove this PBX's repair issues (the entry is going away)."""
        ir.async_delete_issue(self._hass, DOMAIN, self.license_issue_id)
        ir.async_delete_issue(self._hass, DOMAIN, self.clock_skew_issue_id)
