"""Endpoints of the PBX as a whole: firmware, licence, engine, pending changes.

Also the PBX objects read as a whole: call groups and conference rooms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
import dataclasses
import inspect
import math
import re
from typing import Final, Protocol

from . import envelope, parsers, request_bodies
from .errors import (
    KalliopeApiError,
    KalliopeInputError,
    KalliopeNotSupportedError,
    KalliopeResponseError,
)
from .models import (
    BackupInfo,
    CallGroup,
    CallGroupPriority,
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
    check_request_id,
    path_segment,
)

# `PUT /pbx/callgroups/<id>`: "One or more required field missing".
CALLGROUP_FIELD_MISSING: Final = 12
BACKUP_ACCEPT: Final = "application/octet-stream, text/xml;q=0.5, */*;q=0.1"
# A `<kpbx_response>` document (BOM, blanks and a declaration allowed before).
_RESPONSE_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?<kpbx_response\b"
)
_XML_TYPES = ("text/xml", "application/xml")


class BinaryWriter(Protocol):
    """A binary file object, or anything with its `write(bytes)`."""

    def write(self, data: bytes, /) -> object:
        """Write the bytes (the return value is ignored)."""


# Where `create_backup` puts the file: a writable binary file object, or an
# async callback called with each chunk in order.
type BackupDestination = BinaryWriter | Callable[[bytes], Awaitable[object]]


def _is_backup_document(start: bytes, content_type: str | None) -> bool:
    """Whether a backup answer is the PBX's XML (or HTML) answer, not the file.

    The reference promises `application/octet-stream` for the file and "an
    XML response" for errors, without a type: a `<kpbx_response>` start is an
    answer whatever its type, and an XML or HTML type is one when the body
    starts like markup. A file is never taken for markup by its type alone.
    """
    if _RESPONSE_START.match(start):
        return True
    media = (content_type or "").partition(";")[0].strip().lower()
    markup = media in (*_XML_TYPES, "text/html") or media.endswith("+xml")
    return markup and start.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _backup_document(body: bytes, endpoint: str) -> None:
    """Raise what an XML answer to a backup request says (codes 10, 11, 12)."""
    if not _RESPONSE_START.match(body):
        raise KalliopeResponseError(endpoint, "a page came instead of the backup")
    content = envelope.parse_response(body, endpoint)
    envelope.check_error(content, endpoint)
    envelope.check_error(content.get("backup"), endpoint)
    raise KalliopeResponseError(endpoint, "an XML answer came instead of the backup")


def _backup_sink(
    destination: BackupDestination,
) -> Callable[[bytes], Awaitable[object]]:
    """An async writer for the destination; a file is written off the loop."""
    write = getattr(destination, "write", None)
    if callable(write):
        loop = asyncio.get_running_loop()

        async def to_file(chunk: bytes) -> object:
            return await loop.run_in_executor(None, write, chunk)

        return to_file
    callback: object = destination
    if not callable(callback):
        raise KalliopeInputError("a backup destination is a binary file or a callback")

    async def to_callback(chunk: bytes) -> object:
        result = callback(chunk)
        if inspect.isawaitable(result):
            return await result
        return result

    return to_callback


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

    async def restart_system(self, *, request_id: str | None = None) -> bool:
        """Reboot the whole PBX, without confirmation: every call is dropped.

        The PBX is unreachable until it has booted again; a connection error
        here may mean the reboot began before the answer was sent.
        """
        return await self._status_command(
            "/system/restart", "system_restarted", request_id
        )

    async def halt_system(self, *, request_id: str | None = None) -> bool:
        """Shut the PBX down, without confirmation: every call is dropped.

        It stays unreachable until someone powers it on again; a connection
        error here may mean the shutdown began before the answer was sent.
        """
        return await self._status_command("/system/halt", "system_halted", request_id)

    async def create_backup(
        self,
        destination: BackupDestination,
        *,
        name: str,
        description: str | None = None,
        phonebook: bool = False,
        sounds: bool = False,
        max_bytes: int | None = None,
        first_byte_timeout: float | None = None,
        request_id: str | None = None,
    ) -> BackupInfo:
        """Back up the running configuration into `destination`, chunk by chunk.

        `destination`: a writable binary file object (written in a worker
        thread) or an async callback taking each chunk. The file is never held
        in memory whole. `max_bytes` caps it (None: no cap; the client-wide
        `max_response_bytes` does not apply). The PBX builds the whole file
        before it answers: `first_byte_timeout` is how long that may take
        (None: the client's timeout); the client's timeout then applies
        between chunks. An XML error answer raises its
        `KalliopeApiError` (10, 11, 12) with nothing written; a failure once
        writing began may leave part of the file in `destination`. The
        destination's own errors are raised as they are.
        """
        if max_bytes is not None and max_bytes < 1:
            raise KalliopeInputError("max_bytes must be at least 1")
        if first_byte_timeout is not None and not 0 < first_byte_timeout < math.inf:
            raise KalliopeInputError("first_byte_timeout must be a positive number")
        if request_id is not None:
            check_request_id(request_id)
        content = request_bodies.backup_node(
            name, description, phonebook=phonebook, sounds=sounds
        )
        body = request_bodies.build_request(content, request_id)
        answer = await self._stream(
            "POST",
            "/system/backup/create",
            "POST /system/backup/create",
            _backup_sink(destination),
            body=body,
            accept=BACKUP_ACCEPT,
            max_bytes=max_bytes,
            is_document=_is_backup_document,
            parse_document=_backup_document,
            first_byte_timeout=first_byte_timeout,
        )
        return BackupInfo(answer.size, answer.content_type, answer.filename)

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

    async def add_callgroup(
        self,
        name: str,
        priorities: Sequence[CallGroupPriority] = (),
        *,
        ring_timeout: int | None = None,
        selection: str | None = None,
        enabled: bool = True,
        request_id: str | None = None,
    ) -> None:
        """Add a call group (pending until applied).

        The PBX picks its id and does not say which: find it in `callgroups()`.
        """
        await self._callgroup_write(
            "POST",
            "/pbx/callgroups",
            "POST /pbx/callgroups",
            request_bodies.callgroup_node(
                name=name,
                timeout=ring_timeout,
                selection=selection,
                enabled=enabled,
                priorities=priorities,
            ),
            request_id,
        )

    async def update_callgroup(
        self, callgroup: CallGroup, *, request_id: str | None = None
    ) -> None:
        """Write a call group back as given (pending until applied).

        Every priority and member is sent, in order: the PBX replaces the
        members with the request's. Fields that are None are left as the PBX
        has them; the failover is not part of the request and is never changed.
        """
        await self._callgroup_write(
            "PUT",
            f"/pbx/callgroups/{path_segment(callgroup.id, 'call group id')}",
            "PUT /pbx/callgroups/{id}",
            request_bodies.callgroup_node(
                name=callgroup.name,
                timeout=callgroup.timeout,
                selection=callgroup.selection,
                enabled=callgroup.enabled,
                priorities=callgroup.priorities,
            ),
            request_id,
        )

    async def set_callgroup_members(
        self,
        group_id: str,
        priorities: Sequence[CallGroupPriority],
        *,
        request_id: str | None = None,
    ) -> None:
        """Replace a call group's members; nothing else of the group is sent.

        The reference: a PUT alters what the request names and replaces the
        members whole, so the name, timeout, selection and enabled flag stay
        as the PBX has them, whoever changed them last. A firmware that asks
        for the other fields too (code 12, "required field missing") gets
        them back as it has them. Raises `KalliopeApiError` with code 15 for
        a group the PBX does not have.
        """
        try:
            await self._callgroup_write(
                "PUT",
                f"/pbx/callgroups/{path_segment(group_id, 'call group id')}",
                "PUT /pbx/callgroups/{id}",
                request_bodies.callgroup_node(
                    name=None,
                    timeout=None,
                    selection=None,
                    enabled=None,
                    priorities=priorities,
                ),
                request_id,
            )
        except KalliopeApiError as err:
            if err.code != CALLGROUP_FIELD_MISSING:
                raise
            current = await self.callgroup(group_id, request_id=request_id)
            if current is None:
                raise
            await self.update_callgroup(
                dataclasses.replace(current, priorities=tuple(priorities)),
                request_id=request_id,
            )

    async def delete_callgroup(
        self, group_id: str, *, request_id: str | None = None
    ) -> None:
        """Remove a call group (pending until applied); `incoming` cannot be."""
        await self._callgroup_write(
            "DELETE",
            f"/pbx/callgroups/{path_segment(group_id, 'call group id')}",
            "DELETE /pbx/callgroups/{id}",
            None,
            request_id,
        )

    async def _callgroup_write(
        self,
        method: str,
        path: str,
        endpoint: str,
        content: dict[str, object] | None,
        request_id: str | None,
    ) -> None:
        await self._call(
            method,
            path,
            endpoint,
            lambda body, name: envelope.parse_result(body, name, "callgroup"),
            content=content,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

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
