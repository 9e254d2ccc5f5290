"""A PBX stand-in on 127.0.0.1 whose answers are the API reference's own
examples (tests/fixtures/), not our simulator's reading of it.

It records every request (method, raw and decoded path, headers, body), lets
a test put any answer in place of the reference's (body, status, delay or a
handler of its own), and keeps only the state a test needs to see its own
writes: the user configurations written with PUT, and the pending flag that a
write sets and apply/revert clear. It is not a second simulator.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
import copy
from dataclasses import dataclass, field
import hashlib
from pathlib import Path
import re
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from aiohttp import web
from multidict import CIMultiDict

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "admin"
SALT = "b5a8fdcf2f8d5acdad33c4a072a97d7a"
CONTENT_TYPES = {
    "xml": "text/xml",
    "json": "application/json",
    "csv": "text/csv",
}


def fixture_bytes(name: str) -> bytes:
    """A fixture file's raw bytes (BOM and CRLF included)."""
    return (FIXTURES / name).read_bytes()


def md5_hex(value: str) -> str:
    """The 3.x API password: the md5 hex of the web admin password."""
    return hashlib.md5(value.encode()).hexdigest()  # noqa: S324 - the PBX's scheme


def digest_password(password: str, salt: str) -> str:
    """The 4.x derived secret: sha256 hex of `password{salt}`."""
    return hashlib.sha256(f"{password}{{{salt}}}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Canned:
    """A fixed answer, optionally late by `delay` seconds."""

    body: bytes
    status: int = 200
    content_type: str = "text/xml"
    delay: float = 0.0


type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
type Answer = Canned | Handler | bytes
type _PbxContext = AbstractAsyncContextManager[ReferencePbx]


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as it reached the PBX."""

    method: str
    raw_path: str
    headers: CIMultiDict[str]
    body: bytes

    @property
    def path(self) -> str:
        """The decoded path without `/rest`."""
        return unquote(self.raw_path.removeprefix("/rest"))


def _rest(path: str) -> str:
    return path if path.startswith("/rest/") else "/rest" + path


def _response(inner: str) -> bytes:
    return f"<kpbx_response>{inner}</kpbx_response>".encode()


def _user_result(code: int, message: str) -> bytes:
    """The reference's `<user><error>` answer to a user configuration write."""
    return _response(
        f"<user><error><code>{code}</code><message>{message}</message></error></user>"
    )


_TOKEN_FIELD = re.compile(r'(\w+)="([^"]*)"')


@dataclass(slots=True)
class ReferencePbx:
    """Answers by raw path (still percent-encoded, no query), with or
    without `/rest`; a test may change `answers` while it serves.

    `defaults=False` serves only `answers` (anything else is a 404) and
    checks no credentials.
    """

    answers: dict[str, Answer] = field(default_factory=dict)
    version: int = 3
    defaults: bool = True
    requests: list[SeenRequest] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    pending: bool = False
    # False: writes are acknowledged but not kept (a PBX that ignores them).
    keeps_writes: bool = True
    configs: dict[str, ET.Element] = field(default_factory=dict)
    _applied: dict[str, ET.Element] = field(default_factory=dict)
    # The call groups, by id, as `callgroups.xml` has them until written.
    callgroups: dict[str, ET.Element] = field(default_factory=dict)
    _applied_callgroups: dict[str, ET.Element] = field(default_factory=dict)

    def __post_init__(self) -> None:
        root = ET.fromstring(fixture_bytes("users_configs.xml"))  # noqa: S314
        self.configs = {
            config.findtext("exten", ""): config for config in root.iter("config")
        }
        self._applied = copy.deepcopy(self.configs)
        self.load_callgroups("callgroups.xml")

    # ------------------------------------------------------------ for tests

    def answer(
        self,
        path: str,
        body: bytes | str | None = None,
        *,
        fixture: str | None = None,
        status: int = 200,
        delay: float = 0.0,
        content_type: str = "text/xml",
    ) -> None:
        """Answer `path` (with or without `/rest`) this way from now on."""
        if fixture is not None:
            body = fixture_bytes(fixture)
        if isinstance(body, str):
            body = body.encode()
        self.answers[_rest(path)] = Canned(
            body or b"", status=status, content_type=content_type, delay=delay
        )

    def handle(self, path: str, handler: Handler) -> None:
        """Answer `path` with a handler of the test's own."""
        self.answers[_rest(path)] = handler

    def restore(self, path: str) -> None:
        """Answer `path` as the reference does again."""
        self.answers.pop(_rest(path), None)

    @property
    def paths(self) -> list[str]:
        """Raw paths requested, in order."""
        return [request.raw_path for request in self.requests]

    def seen(self, method: str, path: str) -> list[SeenRequest]:
        """The requests made with `method` to the decoded `path` (no `/rest`)."""
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def sent_basic_auth(self) -> bool:
        """Whether any request carried an HTTP Basic `Authorization` header."""
        return any(
            request.headers.get("Authorization", "").lower().startswith("basic")
            for request in self.requests
        )

    def config(self, exten: str) -> ET.Element:
        """Extension `exten`'s `<config>` as the PBX holds it now."""
        return self.configs[exten]

    def load_config(self, fixture: str) -> None:
        """Hold the `<config>` of a fixture in place of that extension's."""
        root = ET.fromstring(fixture_bytes(fixture))  # noqa: S314 - a fixture
        for config in root.iter("config"):
            self.configs[config.findtext("exten", "")] = config
        self._applied = copy.deepcopy(self.configs)

    def failover(self, exten: str) -> dict[str, str]:
        """The failover the PBX holds for `exten`, by the reference's tag names."""
        node = self.configs[exten].find("failover")
        assert node is not None
        fields = {
            "intro": node.findtext("intro") or "",
            "type": node.findtext("type") or "",
        }
        for tag in ("name", "value", "gateway_type", "gateway_id", "gateway_name"):
            fields[tag] = node.findtext(f"destination/{tag}") or ""
        return fields

    def set_failover(self, exten: str, **fields: str) -> None:
        """Change `exten`'s failover and apply it, as in the PBX's own interface."""
        node = self.configs[exten].find("failover")
        assert node is not None
        for tag, value in fields.items():
            found = node.find(tag if tag in ("intro", "type") else f"destination/{tag}")
            assert found is not None, tag
            found.text = value
        self._applied = copy.deepcopy(self.configs)

    def load_callgroups(self, fixture: str) -> None:
        """Hold the call groups of a fixture (applied) in place of all others."""
        root = ET.fromstring(fixture_bytes(fixture))  # noqa: S314 - a fixture
        self.callgroups = {
            group.findtext("id", ""): group for group in root.iter("callgroup")
        }
        self._applied_callgroups = copy.deepcopy(self.callgroups)

    def callgroup_members(self, group_id: str) -> list[list[str]]:
        """The extensions of each priority of a call group, as the PBX holds them."""
        group = self.callgroups[group_id]
        return [
            [member.findtext("exten", "") for member in priority.iter("member")]
            for priority in group.iter("priority")
        ]

    def writes(self) -> list[tuple[str, str]]:
        """(method, path) of every request that is not a read."""
        return [(r.method, r.path) for r in self.requests if r.method != "GET"]

    # ------------------------------------------------------------ serving

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.partition("?")[0]
        seen = SeenRequest(
            request.method, raw_path, CIMultiDict(request.headers), await request.read()
        )
        self.requests.append(seen)
        answer = self.answers.get(
            raw_path, self.answers.get(raw_path.removeprefix("/rest"))
        )
        if isinstance(answer, bytes):
            answer = Canned(answer)
        if answer is not None:
            if not isinstance(answer, Canned):
                return await answer(request)
            if answer.delay:
                await asyncio.sleep(answer.delay)
            return web.Response(
                body=answer.body, status=answer.status, content_type=answer.content_type
            )
        if not self.defaults:
            return web.Response(status=404, text="Not Found")
        return self._reference(seen)

    def _authenticated(self, request: SeenRequest) -> bool:
        if self.version == 3:
            token = base64.b64encode(f"admin:{md5_hex(PASSWORD)}".encode()).decode()
            return request.headers.get("Authorization") == f"Basic {token}"
        header = request.headers.get("X-authenticate", "")
        if not header.startswith("RestApiUsernameToken "):
            return False
        fields = dict(_TOKEN_FIELD.findall(header))
        secret = digest_password(PASSWORD, SALT)
        expected = base64.b64encode(
            hashlib.sha256(
                "".join(
                    (
                        fields.get("Nonce", ""),
                        secret,
                        fields.get("Username", ""),
                        fields.get("Domain", ""),
                        fields.get("Created", ""),
                    )
                ).encode()
            ).digest()
        ).decode()
        return fields.get("Digest") == expected

    def _reference(self, request: SeenRequest) -> web.Response:
        method, path = request.method, request.path
        if path.startswith("/salt/"):
            if self.version == 3:
                return web.Response(status=404, text="Not Found")
            return web.Response(
                body=fixture_bytes("salt.json"), content_type="application/json"
            )
        if not self._authenticated(request):
            return web.Response(status=401, text="Unauthorized")
        body = self._body(method, path, request)
        if body is None:
            return web.Response(status=404, text="Not Found")
        if isinstance(body, tuple):
            return web.Response(body=body[0], content_type=body[1])
        return web.Response(body=body, content_type="text/xml")

    def _body(
        self, method: str, path: str, request: SeenRequest
    ) -> bytes | tuple[bytes, str] | None:
        fixed = {
            ("GET", "/users/registrations/"): "registrations.xml",
            ("GET", "/users/brief/"): "users_brief.xml",
            ("GET", "/license/pxbinstance"): "license_active.xml",
            ("GET", "/system/firmware"): "firmware.xml",
            ("GET", "/system/firmware/updatestatus"): "update_status.xml",
            ("PUT", "/system/pbxengine/reload"): "pbxengine_reloaded.xml",
            ("PUT", "/system/pbxengine/restart"): "pbxengine_restarted.xml",
            ("POST", "/click2call"): "click2call_ok.xml",
            ("GET", "/phonebook/contacts"): "contacts.xml",
            ("POST", "/phonebook/search"): "contacts.xml",
        }
        if (method, path) in fixed:
            return fixture_bytes(fixed[method, path])
        if method == "GET" and path.startswith("/voicemails/count/"):
            return fixture_bytes("voicemail_count.xml")
        if method == "GET" and path == "/pbx/pending":
            return fixture_bytes(f"pending_{str(self.pending).lower()}.xml")
        if method == "PUT" and path == "/pbx/apply":
            self._applied = copy.deepcopy(self.configs)
            self._applied_callgroups = copy.deepcopy(self.callgroups)
            self.pending = False
            return fixture_bytes("pbx_applied.xml")
        if method == "PUT" and path == "/pbx/revert":
            self.configs = copy.deepcopy(self._applied)
            self.callgroups = copy.deepcopy(self._applied_callgroups)
            self.pending = False
            return fixture_bytes("pbx_reverted.xml")
        if path == "/pbx/callgroups" or path.startswith("/pbx/callgroups/"):
            group_id = path.removeprefix("/pbx/callgroups").removeprefix("/")
            return self._callgroup(method, group_id, request)
        if path.startswith("/users/configs/"):
            return self._user_config(
                method, path.removeprefix("/users/configs/"), request
            )
        if method == "POST" and path == "/cdr" and self.version == 3:
            return fixture_bytes("cdr_v3.xml")
        if method == "POST" and path == "/cdr/summary" and self.version == 4:
            accept = request.headers.get("Accept", "")
            kind = next((k for k, v in CONTENT_TYPES.items() if v in accept), "xml")
            return fixture_bytes(f"cdr_v4.{kind}"), CONTENT_TYPES[kind]
        return None

    def _user_config(self, method: str, exten: str, request: SeenRequest) -> bytes:
        if method == "GET":
            chosen = (
                list(self.configs.values())
                if not exten
                else [config for key, config in self.configs.items() if key == exten]
            )
            inner = "".join(ET.tostring(c, encoding="unicode") for c in chosen)
            return _response(f"<configs>{inner}</configs>")
        if exten not in self.configs:
            return _user_result(15, "User does not exist")
        user = ET.fromstring(request.body).find("user")  # noqa: S314 - our request
        if user is None:
            return _user_result(10, "Invalid user request")
        config = self.configs[exten] if self.keeps_writes else ET.Element("config")
        for written in user:
            old = config.find(written.tag)
            if old is not None:
                config.remove(old)
            config.append(copy.deepcopy(written))
        self.pending = True
        return fixture_bytes("user_saved.xml")

    def _callgroup(self, method: str, group_id: str, request: SeenRequest) -> bytes:
        """`/pbx/callgroups[/<id>]`: read, or replace a group's members (PUT)."""
        if method == "GET":
            chosen = [
                group
                for key, group in self.callgroups.items()
                if not group_id or key == group_id
            ]
            inner = "".join(ET.tostring(g, encoding="unicode") for g in chosen)
            return _response(f"<callgroups>{inner}</callgroups>")
        if group_id not in self.callgroups:
            return fixture_bytes("callgroup_error_15.xml")
        written = ET.fromstring(request.body).find("callgroup")  # noqa: S314
        assert method == "PUT"
        assert written is not None
        group = self.callgroups[group_id]
        for tag in ("name", "timeout", "selection", "enabled"):
            value = written.find(tag)
            if value is not None:
                old = group.find(tag)
                assert old is not None
                old.text = value.text
        # The members are always replaced by the request's; the PBX fills in
        # each member's display name.
        priorities = group.find("priorities")
        assert priorities is not None
        priorities.clear()
        for priority in written.iter("priority"):
            kept = ET.SubElement(priorities, "priority")
            ET.SubElement(kept, "id").text = priority.findtext("id")
            members = ET.SubElement(kept, "members")
            for member in priority.iter("member"):
                exten = member.findtext("exten", "")
                node = ET.SubElement(members, "member")
                ET.SubElement(node, "exten").text = exten
                config = self.configs.get(exten)
                names = (
                    (
                        config.findtext("first_name", ""),
                        config.findtext("last_name", ""),
                    )
                    if config is not None
                    else ()
                )
                ET.SubElement(node, "display_name").text = " ".join(
                    name for name in names if name
                )
        self.pending = True
        return fixture_bytes("callgroup_saved.xml")


@asynccontextmanager
async def reference_pbx(
    answers: dict[str, Answer] | None = None,
    *,
    version: int = 3,
    defaults: bool = True,
) -> AsyncIterator[ReferencePbx]:
    """Serve a `ReferencePbx` on 127.0.0.1 for the duration of the block."""
    pbx = ReferencePbx(
        {} if answers is None else answers, version=version, defaults=defaults
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", pbx._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        pbx.port = int(runner.addresses[0][1])
        yield pbx
    finally:
        await runner.cleanup()


def bare_pbx(answers: dict[str, Answer] | None = None) -> _PbxContext:
    """A `ReferencePbx` answering only `answers`, without checking credentials."""
    return reference_pbx(answers, defaults=False)
