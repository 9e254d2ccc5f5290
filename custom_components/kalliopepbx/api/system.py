"""Endpoints of the PBX as a whole: firmware, licence, engine, pending changes.

Also the PBX objects read as a whole: call groups and conference rooms.
"""

from __future__ import annotations

from typing import Final

from . import envelope, parsers
from .errors import KalliopeNotSupportedError
from .models import (
    CallGroup,
    Conference,
    FirmwareInfo,
    FirmwareUpdateState,
    LicenseInfo,
)
from .transport import (
    CALLGROUPS_MAX_BYTES,
    CONFERENCES_MAX_BYTES,
    JSON_ACCEPT,
    SINGLE_ANSWER_MAX_BYTES,
    Transport,
    path_segment,
)

# The reference's heading spells it `pxbinstance`, its index `pxbininstance`;
# the answer element (`pbx_instance_license`) suggests `pbxinstance`.
LICENSE_PATHS: Final = (
    "/license/pxbinstance",
    "/license/pxbininstance",
    "/license/pbxinstance",
)


class SystemEndpoints(Transport):
    """`/system`, `/license`, `/dashboard` and `/pbx`."""

    # The licence path this PBX answered on, once found.
    _license_path: str | None = None

    async def firmware(self, *, request_id: str | None = None) -> FirmwareInfo:
        """Primary, secondary and running firmware."""
        return await self._call(
            "GET",
            "/system/firmware",
            "GET /system/firmware",
            parsers.parse_firmware,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def firmware_update_status(
        self, *, request_id: str | None = None
    ) -> FirmwareUpdateState:
        """Progress of a firmware update (codes 25-31)."""
        return await self._call(
            "GET",
            "/system/firmware/updatestatus",
            "GET /system/firmware/updatestatus",
            parsers.parse_firmware_update_status,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def license(self, *, request_id: str | None = None) -> LicenseInfo:
        """Licence state; answered whatever the licence, unlike most endpoints."""
        if self._license_path:
            return await self._license_at(self._license_path, request_id)
        *fallbacks, last = LICENSE_PATHS
        for path in fallbacks:
            try:
                return await self._license_at(path, request_id)
            except KalliopeNotSupportedError:
                continue
        return await self._license_at(last, request_id)

    async def _license_at(self, path: str, request_id: str | None) -> LicenseInfo:
        info = await self._call(
            "GET",
            path,
            f"GET {path}",
            parsers.parse_license,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        self._license_path = path
        return info

    async def reload_pbx_engine(self, *, request_id: str | None = None) -> bool:
        """Reload the PBX engine's configuration; calls are not affected."""
        return await self._status_command(
            "/system/pbxengine/reload", "pbxengine_reloaded", request_id
        )

    async def restart_pbx_engine(self, *, request_id: str | None = None) -> bool:
        """Restart the PBX engine: every call is dropped."""
        return await self._status_command(
            "/system/pbxengine/restart", "pbxengine_restarted", request_id
        )

    async def serial_number(self, *, request_id: str | None = None) -> str | None:
        """The unit's serial number (4.x dashboard); None where not offered."""
        try:
            payload = await self._send(
                "GET",
                "/dashboard/serialNumber",
                "GET /dashboard/serialNumber",
                accept=JSON_ACCEPT,
                request_id=request_id,
            )
        except KalliopeNotSupportedError:
            return None
        return parsers.parse_json_value(
            payload, ("serialNumber", "serial_number", "serial")
        )

    # ------------------------------------------------------------ pbx

    async def pending(self, *, request_id: str | None = None) -> bool:
        """Whether configuration changes wait to be applied."""
        return await self._call(
            "GET",
            "/pbx/pending",
            "GET /pbx/pending",
            lambda body, endpoint: envelope.parse_status_flag(
                envelope.parse_response(body, endpoint), "pbx_pending", endpoint
            ),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def apply(self, *, request_id: str | None = None) -> bool:
        """Apply pending changes (saved to non-volatile memory)."""
        return await self._status_command("/pbx/apply", "pbx_applied", request_id)

    async def revert(self, *, request_id: str | None = None) -> bool:
        """Drop pending changes."""
        return await self._status_command("/pbx/revert", "pbx_reverted", request_id)

    async def callgroups(self, *, request_id: str | None = None) -> list[CallGroup]:
        """Every call group."""
        return await self._call(
            "GET",
            "/pbx/callgroups",
            "GET /pbx/callgroups",
            parsers.parse_callgroups,
            request_id=request_id,
            max_bytes=CALLGROUPS_MAX_BYTES,
        )

    async def callgroup(
        self, group_id: str, *, request_id: str | None = None
    ) -> CallGroup | None:
        """One call group; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/pbx/callgroups/{path_segment(group_id, 'call group id')}",
            "GET /pbx/callgroups/{id}",
            parsers.parse_callgroups,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        return found[0] if found else None

    async def conferences(self, *, request_id: str | None = None) -> list[Conference]:
        """Every conference room (PINs dropped)."""
        return await self._call(
            "GET",
            "/pbx/conferences",
            "GET /pbx/conferences",
            parsers.parse_conferences,
            request_id=request_id,
            max_bytes=CONFERENCES_MAX_BYTES,
        )

    async def _status_command(
        self, path: str, flag: str, request_id: str | None
    ) -> bool:
        """A command whose answer is one status flag: whether the PBX did it."""
        return await self._call(
            "PUT",
            path,
            f"PUT {path}",
            lambda body, endpoint: envelope.parse_status_flag(
                envelope.parse_response(body, endpoint), flag, endpoint
            ),
            request_id=request_id,
            send_body=True,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
