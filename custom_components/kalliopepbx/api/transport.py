"""The HTTP side of the KalliopePBX client: one request, one checked answer.

Every endpoint goes through `Transport._call` (or `_send` for answers that
are not `<kpbx_response>` documents): a concurrency slot, the auth headers
built once the slot is ours, a timeout, a size cap per endpoint, the HTTP
status mapped to a `KalliopeError`, and big answers parsed off the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
import re
from typing import Any, Final
from urllib.parse import quote, unquote

import aiohttp
from yarl import URL

from .auth import MAX_CLOCK_SKEW_SECONDS, Credentials, DigestCredentials
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
from .request_bodies import build_request

DEFAULT_TIMEOUT: Final = 10.0
# For a streamed answer, whose limits are the client's own.
UNLIMITED: Final = aiohttp.ClientTimeout(total=None)
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

# Streamed answers (backups) are read and handed on this much at a time.
STREAM_CHUNK_BYTES: Final = 64 * _KIB
# Enough of a streamed answer's start to tell a document from a file.
STREAM_PEEK_BYTES: Final = 1 * _KIB

XML_ACCEPT: Final = "text/xml, application/xml;q=0.9, */*;q=0.1"
JSON_ACCEPT: Final = "application/json"
_EXTENDED_FILENAME = re.compile(r";\s*filename\*\s*=\s*([^;]*)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# No slashes, no leading dot: a value can never climb out of its path.
# `*` and `#` are keypad symbols some extensions carry (`*72`, `10#`).
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9_*#-][A-Za-z0-9_.*#-]{0,63}")


type Sink = Callable[[bytes], Awaitable[object]]


class _SinkError(Exception):
    """Carries a sink's exception past the transport's error mapping."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class StreamedAnswer:
    """What a streamed answer was: bytes handed on, and its file headers."""

    size: int
    content_type: str | None
    filename: str | None


def disposition_filename(header: str | None) -> str | None:
    """The file name of a `Content-Disposition` header, reduced to a bare name.

    Takes `filename="a b.tgz"`, `filename=a.tgz` and RFC 5987
    `filename*=UTF-8''a%20b.tgz` (which wins when both are sent); directories
    and control characters are dropped, so the name can never be a path.
    """
    if not header:
        return None
    raw: str | None = None
    extended = _EXTENDED_FILENAME.search(header)
    if extended:
        # RFC 5987 `charset'language'percent-encoded`; unreadable: fall back.
        charset, _, rest = extended.group(1).strip().strip('"').partition("'")
        value = rest.partition("'")[2]
        try:
            raw = unquote(value, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            raw = None
        header = _EXTENDED_FILENAME.sub("", header)
    if raw is None:
        message = Message()
        message["Content-Disposition"] = header
        try:
            raw = message.get_filename()
        except (LookupError, ValueError):
            return None
    if not raw:
        return None
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip()
    return name if name not in ("", ".", "..") else None


def check_request_id(request_id: str) -> str:
    """A request_id as the PBX echoes it back: 1-64 letters or digits."""
    if not _REQUEST_ID.match(request_id):
        raise KalliopeInputError("request_id must be 1-64 letters or digits")
    return request_id


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
            check_request_id(request_id)
            if body is None and method in ("GET", "DELETE"):
                params["request_id"] = request_id
        credentials = self.credentials if authenticate else None
        if authenticate and credentials is None:
            raise KalliopeAuthError("no credentials configured")
        url = self._url(path)
        async with self._semaphore:
            # Built once a slot is ours: 4.x refuses a `Created` gone stale
            # while the request waited in the queue.
            headers = self._headers(accept, body, credentials)
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
            except (TimeoutError, aiohttp.ClientError, OSError) as err:
                raise self._failure(err, endpoint) from err
        return self._check_status(status, payload, endpoint, date_header, location)

    def _failure(
        self, err: BaseException, endpoint: str, waited: float | None = None
    ) -> KalliopeError:
        """The `KalliopeError` for an exchange that failed below HTTP.

        `waited`: the timeout that ran out, if not the client's own.
        """
        if isinstance(err, TimeoutError):
            return KalliopeConnectionError(
                f"{endpoint}: no answer within {waited or self._timeout:g} s"
            )
        if isinstance(err, aiohttp.ClientPayloadError):
            return KalliopeResponseError(endpoint, "answer is truncated")
        if isinstance(err, aiohttp.ClientConnectorCertificateError):
            return KalliopeCertificateError(
                f"{endpoint}: the PBX's certificate is not trusted"
            )
        if isinstance(err, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
            return KalliopeConnectionError(
                f"{endpoint}: TLS failure ({err.__class__.__name__})"
            )
        return KalliopeConnectionError(
            f"{endpoint}: cannot reach the PBX ({err.__class__.__name__})"
        )

    def _headers(
        self, accept: str, body: bytes | None, credentials: Credentials | None
    ) -> dict[str, str]:
        """Request headers; call once a slot is ours (4.x `Created` goes stale)."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = "text/xml; charset=utf-8"
        if credentials is not None:
            headers.update(credentials.headers(self._clock()))
        return headers

    async def _stream(
        self,
        method: str,
        path: str,
        endpoint: str,
        sink: Sink,
        *,
        body: bytes | None,
        accept: str,
        max_bytes: int | None,
        is_document: Callable[[bytes, str | None], bool],
        parse_document: Callable[[bytes, str], object],
        first_byte_timeout: float | None = None,
    ) -> StreamedAnswer:
        """One exchange whose 2xx body is handed to `sink` a chunk at a time.

        Never holds more than a chunk (and the peeked start) in memory. The
        client-wide size cap does not apply, only `max_bytes` (None: none).
        The answer's first byte may take `first_byte_timeout` (None: the
        client's timeout) from the request; after it the client's timeout is
        between chunks, not for the whole transfer. When
        `is_document(start, content_type)` says the answer is a document (an
        XML error) rather than the file, nothing reaches `sink`: the document,
        capped as a single answer, goes to `parse_document`, which should
        raise; if it does not, the answer is refused anyway.
        """
        credentials = self.credentials
        if credentials is None:
            raise KalliopeAuthError("no credentials configured")
        url = self._url(path)
        loop = asyncio.get_running_loop()
        # Until the first byte, then between chunks.
        waiting = first_byte_timeout or self._timeout
        async with self._semaphore:
            # A file is wanted as it is: no compression to undo.
            headers = self._headers(accept, body, credentials)
            headers["Accept-Encoding"] = "identity"
            try:
                async with (
                    asyncio.timeout(waiting) as idle,
                    self._session.request(
                        method,
                        url,
                        data=body,
                        headers=headers,
                        ssl=self._verify_ssl,
                        allow_redirects=False,
                        # Ours are the limits: a session's own total (aiohttp's
                        # default is 5 minutes) would cut a long transfer.
                        timeout=UNLIMITED,
                    ) as response,
                ):
                    if not 200 <= response.status < 300:
                        waiting = self._timeout
                        idle.reschedule(loop.time() + waiting)
                        payload = await self._read(
                            response, endpoint, SINGLE_ANSWER_MAX_BYTES
                        )
                        self._check_status(
                            response.status,
                            payload,
                            endpoint,
                            response.headers.get("Date"),
                            response.headers.get("Location"),
                        )
                    content_type = response.headers.get("Content-Type")
                    length = response.content_length
                    if (
                        max_bytes is not None
                        and length is not None
                        and length > max_bytes
                    ):
                        raise KalliopeResponseTooLargeError(
                            endpoint, max_bytes, response.status
                        )
                    start = b""
                    while len(start) < STREAM_PEEK_BYTES:
                        chunk = await response.content.read(STREAM_PEEK_BYTES)
                        if not chunk:
                            break
                        waiting = self._timeout
                        idle.reschedule(loop.time() + waiting)
                        start += chunk
                    if is_document(start, content_type):
                        # Capped as one answer: Content-Length counts the start too.
                        rest = await self._read(
                            response, endpoint, SINGLE_ANSWER_MAX_BYTES
                        )
                        parse_document(start + rest, endpoint)
                        raise KalliopeResponseError(
                            endpoint, "a document came instead of the file"
                        )
                    if not start:
                        raise KalliopeResponseError(endpoint, "empty answer")
                    size = 0
                    chunk = start
                    while chunk:
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            raise KalliopeResponseTooLargeError(
                                endpoint, max_bytes, response.status
                            )
                        try:
                            await sink(chunk)
                        except Exception as err:
                            raise _SinkError(err) from err
                        # A sink that stalls counts as idle too.
                        idle.reschedule(loop.time() + self._timeout)
                        chunk = await response.content.read(STREAM_CHUNK_BYTES)
                    if length is not None and size != length:
                        raise KalliopeResponseError(endpoint, "answer is truncated")
                    filename = disposition_filename(
                        response.headers.get("Content-Disposition")
                    )
            except _SinkError as failed:
                # The destination's own failure (disk full…) is the caller's.
                raise failed.error from failed.error.__cause__
            except (TimeoutError, aiohttp.ClientError, OSError) as err:
                raise self._failure(err, endpoint, waiting) from err
        return StreamedAnswer(size, content_type, filename)

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
