"""Async client for the KalliopePBX REST API (firmware 3.9.x and 4.x)."""

from __future__ import annotations

from . import cdr_protocol, envelope, parsers, request_bodies
from .auth import AuthDetection, AuthScheme
from .cdr import CallRecord, CdrFormat, CdrQuery
from .errors import KalliopeNotSupportedError, KalliopeResponseError
from .models import (
    Click2CallType,
    Failover,
    Registration,
    UserBrief,
    UserConfig,
    UserUpdate,
    VoicemailCount,
)
from .phonebook import PhonebookEndpoints
from .system import SystemEndpoints
from .transport import (
    JSON_ACCEPT,
    REGISTRATIONS_MAX_BYTES,
    SINGLE_ANSWER_MAX_BYTES,
    USERS_BRIEF_MAX_BYTES,
    USERS_CONFIGS_MAX_BYTES,
    path_segment,
)


class KalliopeClient(SystemEndpoints, PhonebookEndpoints):
    """One KalliopePBX.

    Takes an injected `aiohttp.ClientSession`; every method raises only
    `KalliopeError` subclasses. Every method takes an optional `request_id`,
    which the PBX echoes back.
    """

    def __repr__(self) -> str:
        """Where the client points; the credentials' own repr hides secrets."""
        return f"KalliopeClient({self._base_url}, credentials={self.credentials!r})"

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
                f"/salt/{path_segment(domain, 'tenant domain')}",
                endpoint,
                accept=JSON_ACCEPT,
                authenticate=False,
            )
        except KalliopeNotSupportedError:
            return None
        salt = parsers.parse_salt(payload, endpoint)
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
            parsers.parse_registrations,
            request_id=request_id,
            max_bytes=REGISTRATIONS_MAX_BYTES,
        )

    async def registration(
        self, exten: str, *, request_id: str | None = None
    ) -> Registration | None:
        """Registration state of one extension; None when the PBX lists none."""
        found = await self._call(
            "GET",
            f"/users/registrations/{path_segment(exten, 'extension')}",
            "GET /users/registrations/{exten}",
            parsers.parse_registrations,
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
            parsers.parse_users_brief,
            request_id=request_id,
            max_bytes=USERS_BRIEF_MAX_BYTES,
        )

    async def user_brief(
        self, exten: str, *, request_id: str | None = None
    ) -> UserBrief | None:
        """Identity of one extension; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/users/brief/{path_segment(exten, 'extension')}",
            "GET /users/brief/{exten}",
            parsers.parse_users_brief,
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
            parsers.parse_users_configs,
            request_id=request_id,
            max_bytes=USERS_CONFIGS_MAX_BYTES,
        )

    async def user_config(
        self, exten: str, *, request_id: str | None = None
    ) -> UserConfig | None:
        """Configuration of one extension; None when it does not exist."""
        found = await self._call(
            "GET",
            f"/users/configs/{path_segment(exten, 'extension')}",
            "GET /users/configs/{exten}",
            parsers.parse_users_configs,
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
            f"/users/configs/{path_segment(exten, 'extension')}",
            "PUT /users/configs/{exten}",
            lambda body, endpoint: envelope.parse_result(body, endpoint, "user"),
            content=request_bodies.user_update_node(update),
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
            f"/voicemails/count/{path_segment(mailbox, 'mailbox')}",
            "GET /voicemails/count/{mailbox}",
            lambda body, endpoint: parsers.parse_voicemail_count(
                body, endpoint, mailbox
            ),
            request_id=request_id,
            max_bytes=SINGLE_ANSWER_MAX_BYTES,
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
            lambda body, endpoint: envelope.parse_result(
                body, endpoint, "click2call", key="error_code"
            ),
            content=request_bodies.click2call_node(exten, number, call_type),
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
                cdr_protocol.parse_call_records,
                content=cdr_protocol.v3_request(query),
                request_id=request_id,
            )
        records = await self._call(
            "POST",
            f"/cdr/{CdrFormat.SUMMARY.value}",
            "POST /cdr/{format}",
            cdr_protocol.parse_call_records,
            content=cdr_protocol.v4_request(query),
            request_id=request_id,
        )
        return [
            record
            for record in records
            if cdr_protocol.matches_v4(record, query.filter)
        ]
