"""The HTTP side of the KalliopePBX client: one request, one checked answer.

Every endpoint goes through `Transport._call` (or `_send` for answers that
are not `<kpbx_response>` documents): a concurrency slot, the auth headers
built once the slot is ours, a timeout, a size cap per endpoint, the HTTP
status mapped to a `KalliopeError`, and big answers parsed off the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import re
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from yarl import URL

from .auth import MAX_CLOCK_SKEW_SECONDS, Credentials, DigestCredentials
from .errors import (
    KalliopeAuthError,
    KalliopeCertificateError,
    KalliopeClockSkewError,
    KalliopeConnectionError,
    KalliopeInputError,
    KalliopeNotSupportedError,
    KalliopeResponseError,
    KalliopeResponseTooLargeError,
)
from .request_bodies import build_request

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


def path_segment(value: str, what: str) -> str:
    """A value put into a URL path: checked, then percent-encoded.

    Encoded whole (`*72` → `%2A72`, `10#` → `10%23`): a raw `#` would end
    the path and turn the rest into a fragment that is never sent.
    """
    if not _PATH_SEGMENT.fullmatch(value):
        raise KalliopeInputError(f"invalid {what}: {value!r}")
    return quote(value, safe="")


class Transport:
    """Requests to one PBX; the endpoint methods are on its subclasses."""

    # Instances may lower or raise it (a benchmark parses everything inline).
    _parse_in_thread_above_bytes: int = PARSE_IN_THREAD_ABOVE_BYTES

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

    @property
    def base_url(self) -> URL:
        """The PBX's address, without the `/rest` prefix."""
        return self._base_url

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
            body = build_request(content or {}, request_id)
        payload = await self._send(
            method,
            path,
            endpoint,
            body=body,
            request_id=request_id,
            accept=accept,
            max_bytes=max_bytes,
        )
        if len(payload) > self._parse_in_thread_above_bytes:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, parser, payload, endpoint)
        return parser(payload, endpoint)
