"""Async client for the KalliopePBX REST API (firmware 3.9.x and 4.x)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import logging
import re
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from yarl import URL

from . import cdr, xml
from .auth import (
    MAX_CLOCK_SKEW_SECONDS,
    AuthDetection,
    AuthScheme,
    Credentials,
    DigestCredentials,
)
from .cdr import CallRecord, CdrFormat, CdrQuery
from .errors import (
    KalliopeAuthError,
    KalliopeCertificateError,
    KalliopeClockSkewError,
    KalliopeConnectionError,
    KalliopeError,
    KalliopeInputError,
    KalliopeNotSupportedError,
    KalliopeResponseError,
    KalliopeResponseTooLargeError,
)
from .models import (
    CallGroup,
    Click2CallType,
    Conference,
    Contact,
    ContactInput,
    Failover,
    FirmwareInfo,
    FirmwareUpdateState,
    LicenseInfo,
    PhonebookFilter,
    Registration,
    UserBrief,
    UserConfig,
    UserUpdate,
    VoicemailCount,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 10.0
_KIB: Final = 1024
# The ceiling of every answer; call records (CDR) get only this one.
DEFAULT_MAX_RESPONSE_BYTES: Final = 32 * 1024 * _KIB
# Caps by what an answer can hold, so a broken or hostile PBX cannot make us
# read and parse megabytes where a few hundred bytes are due. Lists are sized
# for a very large PBX: 10,000 entries, each a few times its usual size.
SINGLE_ANSWER_MAX_BYTES: Final = 64 * _KIB
LIST_ENTRIES: Final = 10_000
REGISTRATIONS_MAX_BYTES: Final = LIST_ENTRIES * _KIB  # ~200 B an entry
USERS_BRIEF_MAX_BYTES: Final = LIST_ENTRIES * _KIB // 2  # ~120 B an entry
USERS_CONFIGS_MAX_BYTES: Final = LIST_ENTRIES * 2 * _KIB  # ~600 B an entry
# Phonebooks outgrow extension lists: 20,000 contacts of ~250 B.
CONTACTS_MAX_BYTES: Final = 2 * LIST_ENTRIES * _KIB
# 1,000 call groups with up to ~100 members each.
CALLGROUPS_MAX_BYTES: Final = 1_000 * 16 * _KIB
CONFERENCES_MAX_BYTES: Final = 1_000 * 2 * _KIB
DEFAULT_MAX_CONCURRENT_REQUESTS: Final = 8
# Above this size parsing would block an event loop noticeably: use a thread.
PARSE_IN_THREAD_ABOVE_BYTES: Final = 32 * 1024

XML_ACCEPT: Final = "text/xml, application/xml;q=0.9, */*;q=0.1"
JSON_ACCEPT: Final = "application/json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# No slashes, no leading dot: a value can never climb out of its path.
# `*` and `#` are keypad symbols some extensions carry (`*72`, `10#`).
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9_*#-][A-Za-z0-9_.*#-]{0,63}")
# The reference's heading spells it `pxbinstance`, its index `pxbininstance`;
# the answer element (`pbx_instance_license`) suggests `pbxinstance`.
LICENSE_PATHS: Final = (
    "/license/pxbinstance",
    "/license/pxbininstance",
    "/license/pbxinstance",
)


def _segment(value: str, what: str) -> str:
    """A value put into a URL path: checked, then percent-encoded.

    Encoded whole (`*72` → `%2A72`, `10#` → `10%23`): a raw `#` would end
    the path and turn the rest into a fragment that is never sent.
    """
    if not _PATH_SEGMENT.fullmatch(value):
        raise KalliopeInputError(f"invalid {what}: {value!r}")
    return quote(value, safe="")


class KalliopeClient:
    """One KalliopePBX.

    Takes an injected `aiohttp.ClientSession`; every method raises only
    `KalliopeError` subclasses. Every method takes an optional `request_id`,
    which the PBX echoes back.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        *,
        port: int | None = None,
        use_ssl: bool = False,
        verify_ssl: bool = True,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Describe how to reach the PBX; nothing is sent until a call."""
        self._session = session
        self._host = host
        self._port = port
        self._use_ssl = use_ssl
        self._verify_ssl = verify_ssl
        self.credentials = credentials
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        self._clock = clock or (lambda: datetime.now(UTC))
        self._license_path: str | None = None
        # yarl checks the port only when it is first read, i.e. mid-request.
        if port is not None and not 0 < port < 65536:
            raise KalliopeInputError(f"invalid port: {port!r}")
        if max_concurrent_requests < 1:
            # No slot at all would make every call wait forever.
            raise KalliopeInputError("max_concurrent_requests must be at least 1")
        self._semaphore = asyncio.Semaphore(max_concurrent_requests)
        try:
            self._base_url = URL.build(
                scheme="https" if use_ssl else "http", host=host, port=port
            )
        except (TypeError, ValueError) as err:
            raise KalliopeInputError(f"invalid host: {host!r}") from err

    def __repr__(self) -> str:
        """Where the client points; the credentials' own repr hides secrets."""
        return f"KalliopeClient({self._base_url}, credentials={self.credentials!r})"

    @property
    def base_url(self) -> URL:
        """The PBX's address, without the `/rest` prefix."""
        return self._base_url

    # ------------------------------------------------------------ transport

    def _url(self, path: str) -> URL:
        # Paths are ASCII and their variable parts already percent-encoded.
        return self._base_url.with_path("/rest" + path, encoded=True)

    async def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        body: bytes | None = None,
        request_id: str | None = None,
        accept: str = XML_ACCEPT,
        authenticate: bool = True,
        max_bytes: int | None = SINGLE_ANSWER_MAX_BYTES,
    ) -> bytes:
        """One HTTP exchange; returns the body of a 2xx answer.

        `max_bytes`: this endpoint's answer size cap (None: only the
        client-wide one).
        """
        params: dict[str, str] = {}
        if request_id is not None:
            if not _REQUEST_ID.match(request_id):
                raise KalliopeInputError("request_id must be 1-64 letters or digits")
            if body is None and method in ("GET", "DELETE"):
                params["request_id"] = request_id
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "text/xml; charset=utf-8"
        credentials = self.credentials
        if authenticate and credentials is None:
            raise KalliopeAuthError("no credentials configured")
        url = self._url(path)
        async with self._semaphore:
            if authenticate and credentials is not None:
                # Built once a slot is ours: 4.x refuses a `Created` gone stale
                # while the request waited in the queue.
                headers.update(credentials.headers(self._clock()))
            try:
                async with (
                    asyncio.timeout(self._timeout),
                    self._session.request(
                        method,
                        url,
                        params=params or None,
                        data=body,
                        headers=headers,
                        ssl=self._verify_ssl,
                        allow_redirects=False,
                    ) as response,
                ):
                    payload = await self._read(response, endpoint, max_bytes)
                    status = response.status
                    date_header = response.headers.get("Date")
                    location = response.headers.get("Location")
            except TimeoutError as err:
                raise KalliopeConnectionError(
                    f"{endpoint}: no answer within {self._timeout:g} s"
                ) from err
            except aiohttp.ClientPayloadError as err:
                raise KalliopeResponseError(endpoint, "answer is truncated") from err
            except aiohttp.ClientConnectorCertificateError as err:
                raise KalliopeCertificateError(
                    f"{endpoint}: the PBX's certificate is not trusted"
                ) from err
            except (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch) as err:
                raise KalliopeConnectionError(
                    f"{endpoint}: TLS failure ({err.__class__.__name__})"
                ) from err
            except (aiohttp.ClientError, OSError) as err:
                raise KalliopeConnectionError(
                    f"{endpoint}: cannot reach the PBX ({err.__class__.__name__})"
                ) from err
        return self._check_status(status, payload, endpoint, date_header, location)

    async def _read(
        self, response: aiohttp.ClientResponse, endpoint: str, max_bytes: int | None
    ) -> bytes:
        """The body, read a chunk at a time and refused once over the size cap."""
        limit = self._max_response_bytes
        if max_bytes is not None:
            limit = min(limit, max_bytes)
        if response.content_length is not None and response.content_length > limit:
            raise KalliopeResponseTooLargeError(endpoint, limit, response.status)
        chunks: list[bytes] = []
        size = 0
        # Counts decoded bytes: a compressed answer cannot slip past the cap.
        async for chunk in response.content.iter_chunked(min(limit, 64 * _KIB)):
            size += len(chunk)
            if size > limit:
                raise KalliopeResponseTooLargeError(endpoint, limit, response.status)
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_status(
        self,
        status: int,
        payload: bytes,
        endpoint: str,
        date_header: str | None,
        location: str | None,
    ) -> bytes:
        if 200 <= status < 300:
            return payload
        if status in (401, 403):
            skew = self._clock_skew(date_header)
            if (
                isinstance(self.credentials, DigestCredentials)
                and skew is not None
                and abs(skew) > MAX_CLOCK_SKEW_SECONDS
            ):
                raise KalliopeClockSkewError(skew)
            raise KalliopeAuthError(f"{endpoint}: the PBX refused the credentials")
        if status == 404:
            raise KalliopeNotSupportedError(endpoint)
        if 300 <= status < 400:
            raise KalliopeResponseError(
                endpoint,
                f"the PBX redirects to {location or 'another address'}"
                " (check the HTTPS setting)",
                status,
            )
        raise KalliopeResponseError(endpoint, f"HTTP {status}", status)

    def _clock_skew(self, date_header: str | None) -> float | None:
        """PBX clock minus ours, from the answer's `Date` header."""
        if not date_header:
            return None
        try:
            pbx_time = parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return None
        if pbx_time.tzinfo is None:
            pbx_time = pbx_time.replace(tzinfo=UTC)
        return (pbx_time - self._clock()).total_seconds()

    async def _call[T](
        self,
        method: str,
        path: str,
        endpoint: str,
        parser: Callable[[bytes, str], T],
        *,
        content: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        accept: str = XML_ACCEPT,
        send_body: bool = False,
        max_bytes: int | None = None,
    ) -> T:
        """Send, then parse; big answers are parsed in a worker thread.

        `max_bytes`: the answer size cap; None (call records) leaves only the
        client-wide one.
        """
        body = None
        if content is not None or (send_body and request_id is not None):
            body = xml.build_request(content or {}, request_id)
        payload = await self._send(
            method,
            path,
            endpoint,
            body=body,
            request_id=request_id,
            accept=accept,
            max_bytes=max_bytes,
        )
        if len(payload) > PARSE_IN_THREAD_ABOVE_BYTES:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, parser, payload, endpoint)
        return parser(payload, endpoint)

    # ------------------------------------------------------------ auth

    async def fetch_salt(self, domain: str) -> str | None:
        """The tenant's 4.x salt; None only when the PBX has no such endpoint (3.x).

        Any other failure raises: falling back to 3.x would send the md5 of
        the password to whoever made the salt request fail.
        """
        endpoint = "GET /salt/{domain}"
        try:
            payload = await self._send(
                "GET",
                f"/salt/{_segment(domain, 'tenant domain')}",
                endpoint,
                accept=JSON_ACCEPT,
                authenticate=False,
            )
        except KalliopeNotSupportedError:
            return None
        salt = xml.parse_salt(payload, endpoint)
        if salt is None:
            raise KalliopeResponseError(endpoint, "answer carries no salt")
        return salt

    async def detect(self, domain: str = "default") -> AuthDetection:
        """Which scheme the PBX speaks: a salt means 4.x, HTTP 404 means 3.x.

        Raises on any other answer rather than guess 3.x.
        """
        salt = await self.fetch_salt(domain)
        if salt:
            return AuthDetection(AuthScheme.V4_DIGEST, salt)
        return AuthDetection(AuthScheme.V3_BASIC)

    # ------------------------------------------------------------ users

    async def registrations(
        self, *, request_id: str | None = None
    ) -> list[Registration]:
        """Registration state of every enabled extension."""
        return await self._call(
            "GET",
            "/users/registrations/",
            "GET /users/registrations/",
            xml.parse_registrations,
            request_id=request_id,
            max_bytes=REGISTRATIONS_MAX_BYTES,
        )

    async def registration(
        self, exten: str, *, request_id: str | None = None
    ) -> Registration | None:
        """Registration state of one extension; None when the PBX lists none."""
        found = await self._call(
            "GET",
            f"/users/registrations/{_segment(exten, 'extension')}",
            "GET /users/registrations/{exten}",
            xml.parse_registrations,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        return found[0] if found else None

    async def users_brief(self, *, request_id: str | None = None) -> list[UserBrief]:
        """Identity of every configured extension."""
        return await self._call(
            "GET",
            "/users/brief/",
            "GET /users/brief/",
            xml.parse_users_brief,
            request_id=request_id,
            max_bytes=USERS_BRIEF_MAX_BYTES,
        )

    async def user_brief(
        self, exten: str, *, request_id: str | None = None
    ) -> UserBrief | None:
        """Identity of one extension; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/users/brief/{_segment(exten, 'extension')}",
            "GET /users/brief/{exten}",
            xml.parse_users_brief,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        return found[0] if found else None

    async def users_configs(self, *, request_id: str | None = None) -> list[UserConfig]:
        """Configuration of every extension (secrets dropped)."""
        return await self._call(
            "GET",
            "/users/configs/",
            "GET /users/configs/",
            xml.parse_users_configs,
            request_id=request_id,
            max_bytes=USERS_CONFIGS_MAX_BYTES,
        )

    async def user_config(
        self, exten: str, *, request_id: str | None = None
    ) -> UserConfig | None:
        """Configuration of one extension; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/users/configs/{_segment(exten, 'extension')}",
            "GET /users/configs/{exten}",
            xml.parse_users_configs,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        return found[0] if found else None

    async def update_user_config(
        self, exten: str, update: UserUpdate, *, request_id: str | None = None
    ) -> None:
        """Change an extension; the PBX holds the change as pending until applied."""
        await self._call(
            "PUT",
            f"/users/configs/{_segment(exten, 'extension')}",
            "PUT /users/configs/{exten}",
            lambda body, endpoint: xml.parse_result(body, endpoint, "user"),
            content=xml.user_update_node(update),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def set_failover(
        self, exten: str, failover: Failover, *, request_id: str | None = None
    ) -> None:
        """Change only an extension's failover (pending until applied)."""
        await self.update_user_config(
            exten, UserUpdate(failover=failover), request_id=request_id
        )

    async def voicemail_count(
        self, mailbox: str, *, request_id: str | None = None
    ) -> VoicemailCount:
        """New, urgent and old message counts of one mailbox."""
        return await self._call(
            "GET",
            f"/voicemails/count/{_segment(mailbox, 'mailbox')}",
            "GET /voicemails/count/{mailbox}",
            lambda body, endpoint: xml.parse_voicemail_count(body, endpoint, mailbox),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    # ------------------------------------------------------------ system

    async def firmware(self, *, request_id: str | None = None) -> FirmwareInfo:
        """Primary, secondary and running firmware."""
        return await self._call(
            "GET",
            "/system/firmware",
            "GET /system/firmware",
            xml.parse_firmware,
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
            xml.parse_firmware_update_status,
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
            xml.parse_license,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        self._license_path = path
        return info

    async def reload_pbx_engine(self, *, request_id: str | None = None) -> bool:
        """Reload the PBX engine's configuration; calls are not affected."""
        return await self._call(
            "PUT",
            "/system/pbxengine/reload",
            "PUT /system/pbxengine/reload",
            lambda body, endpoint: xml.parse_status_flag(
                xml.parse_response(body, endpoint), "pbxengine_reloaded", endpoint
            ),
            request_id=request_id,
            send_body=True,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def restart_pbx_engine(self, *, request_id: str | None = None) -> bool:
        """Restart the PBX engine: every call is dropped."""
        return await self._call(
            "PUT",
            "/system/pbxengine/restart",
            "PUT /system/pbxengine/restart",
            lambda body, endpoint: xml.parse_status_flag(
                xml.parse_response(body, endpoint), "pbxengine_restarted", endpoint
            ),
            request_id=request_id,
            send_body=True,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
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
        return xml.parse_json_value(
            payload, ("serialNumber", "serial_number", "serial")
        )

    # ------------------------------------------------------------ pbx

    async def pending(self, *, request_id: str | None = None) -> bool:
        """Whether configuration changes wait to be applied."""
        return await self._call(
            "GET",
            "/pbx/pending",
            "GET /pbx/pending",
            lambda body, endpoint: xml.parse_status_flag(
                xml.parse_response(body, endpoint), "pbx_pending", endpoint
            ),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def apply(self, *, request_id: str | None = None) -> bool:
        """Apply pending changes (saved to non-volatile memory)."""
        return await self._call(
            "PUT",
            "/pbx/apply",
            "PUT /pbx/apply",
            lambda body, endpoint: xml.parse_status_flag(
                xml.parse_response(body, endpoint), "pbx_applied", endpoint
            ),
            request_id=request_id,
            send_body=True,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def revert(self, *, request_id: str | None = None) -> bool:
        """Drop pending changes."""
        return await self._call(
            "PUT",
            "/pbx/revert",
            "PUT /pbx/revert",
            lambda body, endpoint: xml.parse_status_flag(
                xml.parse_response(body, endpoint), "pbx_reverted", endpoint
            ),
            request_id=request_id,
            send_body=True,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def callgroups(self, *, request_id: str | None = None) -> list[CallGroup]:
        """Every call group."""
        return await self._call(
            "GET",
            "/pbx/callgroups",
            "GET /pbx/callgroups",
            xml.parse_callgroups,
            request_id=request_id,
            max_bytes=CALLGROUPS_MAX_BYTES,
        )

    async def callgroup(
        self, group_id: str, *, request_id: str | None = None
    ) -> CallGroup | None:
        """One call group; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/pbx/callgroups/{_segment(group_id, 'call group id')}",
            "GET /pbx/callgroups/{id}",
            xml.parse_callgroups,
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
            xml.parse_conferences,
            request_id=request_id,
            max_bytes=CONFERENCES_MAX_BYTES,
        )

    # ------------------------------------------------------------ calls

    async def click2call(
        self,
        exten: str,
        number: str,
        call_type: Click2CallType = Click2CallType.AUTO,
        *,
        request_id: str | None = None,
    ) -> None:
        """Ring `exten`; when it answers, the PBX dials `number`."""
        await self._call(
            "POST",
            "/click2call",
            "POST /click2call",
            lambda body, endpoint: xml.parse_result(
                body, endpoint, "click2call", key="error_code"
            ),
            content=xml.click2call_node(exten, number, call_type),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def call_records(
        self, query: CdrQuery | None = None, *, request_id: str | None = None
    ) -> list[CallRecord]:
        """Calls that started in the query's period and match its filter.

        3.x (`POST /cdr`) filters on the PBX; 4.x (`POST /cdr/summary`, one
        record per call) filters by time only, so the rest is done here.
        Raises `KalliopeUnsupportedFilterError`, before sending anything, for
        a filter this firmware's records cannot answer.
        """
        query = query or CdrQuery()
        if self.credentials is None or self.credentials.scheme is not (
            AuthScheme.V4_DIGEST
        ):
            return await self._call(
                "POST",
                "/cdr",
                "POST /cdr",
                cdr.parse_call_records,
                content=cdr.v3_request(query),
                request_id=request_id,
            )
        records = await self._call(
            "POST",
            f"/cdr/{CdrFormat.SUMMARY.value}",
            "POST /cdr/{format}",
            cdr.parse_call_records,
            content=cdr.v4_request(query),
            request_id=request_id,
        )
        return [record for record in records if cdr.matches_v4(record, query.filter)]

    # ------------------------------------------------------------ phonebook

    async def phonebook_contacts(
        self, *, request_id: str | None = None
    ) -> list[Contact]:
        """Every phonebook contact."""
        return await self._call(
            "GET",
            "/phonebook/contacts",
            "GET /phonebook/contacts",
            xml.parse_contacts,
            request_id=request_id,
            max_bytes=CONTACTS_MAX_BYTES,
        )

    async def phonebook_contact(
        self, contact_id: str, *, request_id: str | None = None
    ) -> Contact | None:
        """One contact; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/phonebook/contacts/{_segment(contact_id, 'contact id')}",
            "GET /phonebook/contacts/{id}",
            xml.parse_contacts,
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )
        return found[0] if found else None

    async def search_phonebook(
        self, search: PhonebookFilter, *, request_id: str | None = None
    ) -> list[Contact]:
        """Contacts matching the filter (`%` wildcards at either end)."""
        return await self._call(
            "POST",
            "/phonebook/search",
            "POST /phonebook/search",
            xml.parse_contact_search,
            content=xml.phonebook_filter_node(search),
            request_id=request_id,
            max_bytes=CONTACTS_MAX_BYTES,
        )

    async def add_contact(
        self, contact: ContactInput, *, request_id: str | None = None
    ) -> None:
        """Add a system contact (or a private one with `owner`)."""
        if contact.id is not None:
            raise KalliopeInputError("a new contact has no id")
        await self._call(
            "POST",
            "/phonebook/contacts",
            "POST /phonebook/contacts",
            lambda body, endpoint: xml.parse_result(body, endpoint, "contact"),
            content=xml.contact_node(contact),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def update_contact(
        self, contact: ContactInput, *, request_id: str | None = None
    ) -> None:
        """Change an existing contact, identified by its id."""
        if contact.id is None:
            raise KalliopeInputError("a contact update needs the contact's id")
        await self._call(
            "PUT",
            "/phonebook/contacts",
            "PUT /phonebook/contacts",
            lambda body, endpoint: xml.parse_result(body, endpoint, "contact"),
            content=xml.contact_node(contact),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )

    async def delete_contact(
        self, contact_id: str, *, request_id: str | None = None
    ) -> None:
        """Remove a contact."""
        await self._call(
            "DELETE",
            f"/phonebook/contacts/{_segment(contact_id, 'contact id')}",
            "DELETE /phonebook/contacts/{id}",
            lambda body, endpoint: xml.parse_result(body, endpoint, "contact"),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
        )


__all__ = ["KalliopeClient", "KalliopeError"]
