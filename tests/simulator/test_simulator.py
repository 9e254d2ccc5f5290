"""The simulator over real HTTP on 127.0.0.1, with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
import hashlib
import json
import ssl
import time
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest

from simulator import (
    PbxState,
    build_scenario,
    make_self_signed_cert,
    run_simulator,
    server_ssl_context,
)
from simulator.__main__ import banner, parse_args
from simulator.app import RunningSimulator
from simulator.xml_out import cached_document

MD5_ADMIN = "21232f297a57a5a743894a0e4a801fc3"
FIXED_NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def parse_xml(body: bytes) -> ET.Element:
    """Parse an answer of the simulator under test (our own, trusted output)."""
    return ET.fromstring(body)  # noqa: S314


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def xml(self) -> ET.Element:
        root = parse_xml(self.body)
        assert root.tag == "kpbx_response"
        return root

    def calls(self) -> list[ET.Element]:
        """The `<call>`s of a 4.x CDR answer: `<cdr>` is the root."""
        root = parse_xml(self.body)
        assert root.tag == "cdr"
        return root.findall("call")

    def code(self, path: str) -> int:
        """The `<code>` under `path` (e.g. "user/error")."""
        found = self.xml().findtext(f"{path}/code")
        assert found is not None, self.text
        return int(found)


def v4_header(
    password_digest: str,
    *,
    nonce: str | None = None,
    created: str | None = None,
    username: str = "admin",
    domain: str = "default",
    digest: str | None = None,
) -> str:
    """The 4.x X-authenticate header, written independently of the simulator."""
    nonce = (
        nonce or hashlib.sha256(str(time.perf_counter_ns()).encode()).hexdigest()[:32]
    )
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if digest is None:
        raw = f"{nonce}{password_digest}{username}{domain}{created}".encode()
        digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
    return (
        f'RestApiUsernameToken Username="{username}", Domain="{domain}", '
        f'Digest="{digest}", Nonce="{nonce}", Created="{created}"'
    )


class Pbx:
    """A running simulator plus a client session to talk to it."""

    def __init__(self, sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.password = "admin"

    @property
    def state(self) -> PbxState:
        return self.sim.state

    def auth_headers(self) -> dict[str, str]:
        if self.state.auth == "v3":
            md5 = hashlib.md5(self.password.encode(), usedforsecurity=False).hexdigest()
            token = base64.b64encode(f"admin:{md5}".encode()).decode()
            return {"Authorization": f"Basic {token}"}
        salt = self.state.salt
        digest_password = hashlib.sha256(
            f"{self.password}{{{salt}}}".encode()
        ).hexdigest()
        return {"X-authenticate": v4_header(digest_password, domain=self.state.domain)}

    async def call(
        self,
        method: str,
        path: str,
        body: str | bytes | None = None,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        sent = self.auth_headers() if auth else {}
        sent.update(headers or {})
        data = body.encode() if isinstance(body, str) else body
        async with self.session.request(
            method,
            f"{self.sim.rest_url}{path}",
            data=data,
            headers=sent,
            params=params,
            allow_redirects=False,
        ) as resp:
            return Answer(resp.status, resp.headers, await resp.read())

    async def ctl(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, f"{self.sim.control_url}{path}", json=payload
        ) as resp:
            return resp.status, await resp.json()


@asynccontextmanager
async def serve(state: PbxState, **kwargs: Any) -> AsyncIterator[Pbx]:
    async with (
        run_simulator(state, **kwargs) as sim,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session,
    ):
        yield Pbx(sim, session)


def req(tag: str, inner: str = "", request_id: str | None = None) -> str:
    rid = f"<request_id>{request_id}</request_id>" if request_id else ""
    return (
        f'<?xml version="1.0"?><kpbx_request>{rid}<{tag}>{inner}</{tag}></kpbx_request>'
    )


@pytest.fixture
async def pbx() -> AsyncIterator[Pbx]:
    async with serve(build_scenario(50, auth="v3", now=FIXED_NOW)) as running:
        yield running


@pytest.fixture
async def pbx4() -> AsyncIterator[Pbx]:
    async with serve(build_scenario(20, auth="v4")) as running:
        yield running


def first_with(state: PbxState, *, status: str = "OK", vm: bool | None = None) -> str:
    for exten in state.sorted_extens():
        ext = state.extensions[exten]
        if not ext.enabled or state.registration(exten).status != status:
            continue
        if vm is None or ext.vm_enabled == vm:
            return exten
    raise AssertionError("no such extension")


# ---------------------------------------------------------------- scenario


def test_scenario_is_deterministic_and_shaped() -> None:
    one = build_scenario(300, seed=7, now=FIXED_NOW)
    two = build_scenario(300, seed=7, now=FIXED_NOW)
    other = build_scenario(300, seed=8, now=FIXED_NOW)
    for kind in ("registrations", "brief", "configs", "callgroups"):
        assert cached_document(one, kind, None) == cached_document(two, kind, None)
    assert cached_document(one, "brief", None) != cached_document(other, "brief", None)
    assert [r.unique_id for r in one.cdr] == [r.unique_id for r in two.cdr]

    assert one.sorted_extens()[:2] == ["201", "202"]
    assert build_scenario(800).sorted_extens()[0] == "1001"
    names = {e.display_name for e in one.extensions.values()}
    assert len(names) == 300
    enabled = [e for e in one.extensions.values() if e.enabled]
    ok = sum(1 for e in enabled if one.registration(e.exten).status == "OK")
    assert 0.6 < ok / len(enabled) < 0.85
    assert 0 < len(one.extensions) - len(enabled) < 20
    external = [
        e
        for e in one.extensions.values()
        if e.failover.type == "FORWARD_TO_EXTERNAL_NUMBER"
    ]
    assert len(external) == 1
    for ext in one.extensions.values():
        if ext.failover.type != "FORWARD_TO_EXTERNAL_NUMBER":
            assert ext.failover.type == (
                "FORWARD_TO_VOICEMAIL" if ext.vm_enabled else "HANGUP"
            )
    assert one.licensed_exten == 300
    assert build_scenario(3).licensed_exten == 10
    assert build_scenario(41).licensed_exten == 50
    assert 250 <= len(one.cdr) <= 320
    assert min(r.start for r in one.cdr) >= FIXED_NOW - timedelta(days=46)
    assert max(r.end for r in one.cdr) <= FIXED_NOW
    assert len(one.contacts) == 30
    assert sum(1 for c in one.contacts.values() if c.type == "private") == 2
    assert set(one.callgroups) == {"incoming", "1", "2"}
    assert len(one.conferences) == 2
    assert not one.pending


def test_demo_scenario() -> None:
    state = build_scenario(scenario="demo")
    assert state.sorted_extens() == [str(n) for n in range(201, 213)]
    assert state.pending
    statuses = {state.registration(e).status for e in state.extensions}
    assert {"OK", "UNREACHABLE", "UNKNOWN"} <= statuses
    assert sum(1 for c in state.voicemails.values() if c.new > 0) >= 3
    assert state.get_failover("208") == {
        "intro": "",
        "type": "FORWARD_TO_EXTERNAL_NUMBER",
        "name": "",
        "value": "3479876543",
        "gateway_type": "TRUNK",
        "gateway_id": "2",
        "gateway_name": "VoIP Trunk Messagenet",
    }
    assert state.get_failover("203")["type"] == "FORWARD_TO_EXTEN"  # type: ignore[index]
    state.revert()
    assert state.get_failover("203")["type"] == "FORWARD_TO_VOICEMAIL"  # type: ignore[index]
    assert not state.pending


def test_big_answers_are_cached_until_the_state_changes() -> None:
    state = build_scenario(5000)
    for kind in ("registrations", "configs"):
        body = cached_document(state, kind, None)
        assert cached_document(state, kind, None) is body
    before = cached_document(state, "registrations", None)
    changed = state.change_registrations(0.01, seed=3)
    assert len(changed) == 48  # 1% of the enabled ones
    body = cached_document(state, "registrations", None)
    assert body is not before
    root = parse_xml(body)
    registrations = root.findall("registrations/registration")
    assert len(registrations) == sum(1 for e in state.extensions.values() if e.enabled)
    status = {r.findtext("exten"): r.findtext("status") for r in registrations}
    assert all(status[exten] == state.registration(exten).status for exten in changed)


def test_cli_arguments_and_banner() -> None:
    args = parse_args(
        ["--extensions", "12", "--auth", "v4", "--tls", "--clock-offset", "30"]
    )
    assert (args.extensions, args.auth, args.tls, args.clock_offset) == (
        12,
        "v4",
        True,
        30.0,
    )
    assert args.port == 8080
    state = build_scenario(3, auth="v3")
    text = banner(state, "http://127.0.0.1:8080", 8080, None)
    assert MD5_ADMIN in text
    assert "127.0.0.1" in text
    assert "/_sim/" in text
    with pytest.raises(SystemExit):
        parse_args(["--extensions", "100000"])


async def test_binds_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        async with run_simulator(build_scenario(1), host="0.0.0.0"):  # noqa: S104
            pass


# ---------------------------------------------------------------- 3.x auth


async def test_v3_basic_auth(pbx: Pbx) -> None:
    ok = await pbx.call("GET", "/users/registrations/")
    assert ok.status == 200
    assert ok.headers["Content-Type"] == "text/xml; charset=UTF-8"
    assert ok.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')

    missing = await pbx.call("GET", "/users/registrations/", auth=False)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"] == 'Basic realm="KalliopePBX"'
    plain = base64.b64encode(b"admin:admin").decode()
    wrong = await pbx.call(
        "GET", "/pbx/pending", auth=False, headers={"Authorization": f"Basic {plain}"}
    )
    assert wrong.status == 401
    other_user = base64.b64encode(f"root:{MD5_ADMIN}".encode()).decode()
    assert (
        await pbx.call(
            "GET",
            "/pbx/pending",
            auth=False,
            headers={"Authorization": f"Basic {other_user}"},
        )
    ).status == 401

    salt = await pbx.call("GET", "/salt/default", auth=False)
    assert salt.status == 404
    assert salt.headers["Content-Type"].startswith("text/html")
    assert "Not Found" in salt.text
    assert (await pbx.call("GET", "/cdr/summary")).status == 404  # no 4.x CDR on 3.x

    status, _ = await pbx.ctl("POST", "/password", {"password": "s3cret!"})
    assert status == 200
    assert (await pbx.call("GET", "/pbx/pending")).status == 401
    pbx.password = "s3cret!"
    assert (await pbx.call("GET", "/pbx/pending")).status == 200


# ---------------------------------------------------------------- 4.x auth


def test_v4_vendor_test_vector() -> None:
    state = build_scenario(1, auth="v4", password="admin")
    state.salt = "b5a8fdcf2f8d5acdad33c4a072a97d7a"
    assert state.digest_password == (
        "dd7b0be7fa37d6cbaf0b842bf7532f229cb79ab8d54d509c2aa7eea27a53cd5e"
    )
    from simulator.auth import request_digest

    digest = request_digest(
        "bfb79078ff44c35714af28b7412a702b",
        state.digest_password,
        "admin",
        "default",
        "2016-04-29T15:48:26Z",
    )
    assert digest == "+PJg7Tb3v98XnL6iJVv+v5hwhYjdzQ2tIWxvJB2cE40="


async def test_v4_vendor_vector_over_http_then_replay() -> None:
    state = build_scenario(5, auth="v4")
    state.salt = "b5a8fdcf2f8d5acdad33c4a072a97d7a"
    created = datetime(2016, 4, 29, 15, 48, 26, tzinfo=UTC)
    state.set_clock_offset((created - datetime.now(UTC)).total_seconds())
    header = (
        'RestApiUsernameToken Username="admin", Domain="default", '
        'Digest="+PJg7Tb3v98XnL6iJVv+v5hwhYjdzQ2tIWxvJB2cE40=", '
        'Nonce="bfb79078ff44c35714af28b7412a702b", Created="2016-04-29T15:48:26Z"'
    )
    async with serve(state) as pbx:
        first = await pbx.call(
            "GET", "/pbx/pending", auth=False, headers={"X-authenticate": header}
        )
        assert first.status == 200, first.text
        assert parsedate_to_datetime(first.headers["Date"]).year == 2016
        again = await pbx.call(
            "GET", "/pbx/pending", auth=False, headers={"X-authenticate": header}
        )
        assert again.status == 401
        assert "nonce" in again.text


async def test_v4_salt_and_token(pbx4: Pbx) -> None:
    state = pbx4.state
    as_json = await pbx4.call(
        "GET", "/salt/default", auth=False, headers={"Accept": "application/json"}
    )
    assert as_json.status == 200
    assert json.loads(as_json.body) == {"salt": state.salt}
    assert len(state.salt) == 32
    as_xml = await pbx4.call("GET", "/salt/default", auth=False)
    assert as_xml.xml().findtext("salt") == state.salt
    assert (await pbx4.call("GET", "/salt/nope", auth=False)).status == 404

    assert (await pbx4.call("GET", "/users/brief/")).status == 200
    assert (await pbx4.call("GET", "/users/brief/", auth=False)).status == 401
    basic = base64.b64encode(f"admin:{MD5_ADMIN}".encode()).decode()
    assert (
        await pbx4.call(
            "GET",
            "/users/brief/",
            auth=False,
            headers={"Authorization": f"Basic {basic}"},
        )
    ).status == 401

    good = hashlib.sha256(f"admin{{{state.salt}}}".encode()).hexdigest()
    now = datetime.now(UTC)
    cases = {
        "wrong user": v4_header(good, username="root"),
        "wrong domain": v4_header(good, domain="other"),
        "short nonce": v4_header(good, nonce="abc123"),
        "upper-case nonce": v4_header(good, nonce="ABCDEF0123456789"),
        "skewed": v4_header(
            good, created=(now - timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "future": v4_header(
            good, created=(now + timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "bad created": v4_header(good, created="2026-01-01 10:00:00"),
        "wrong digest": v4_header(good, digest="AAAA"),
        "wrong password": v4_header(
            hashlib.sha256(f"nope{{{state.salt}}}".encode()).hexdigest()
        ),
        "garbage": "RestApiUsernameToken nothing here",
    }
    for what, header in cases.items():
        answer = await pbx4.call(
            "GET", "/pbx/pending", auth=False, headers={"X-authenticate": header}
        )
        assert answer.status == 401, what
    within = v4_header(
        good, created=(now - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert (
        await pbx4.call(
            "GET", "/pbx/pending", auth=False, headers={"X-authenticate": within}
        )
    ).status == 200


async def test_v4_clock_offset_moves_date_and_created_check(pbx4: Pbx) -> None:
    status, _ = await pbx4.ctl("POST", "/clock", {"offset_s": 600})
    assert status == 200
    answer = await pbx4.call("GET", "/pbx/pending")  # Created from the real clock
    assert answer.status == 401
    skew = (
        parsedate_to_datetime(answer.headers["Date"]) - datetime.now(UTC)
    ).total_seconds()
    assert 590 < skew < 610
    salt = await pbx4.call("GET", "/salt/default", auth=False)
    assert (
        abs(
            (
                parsedate_to_datetime(salt.headers["Date"]) - datetime.now(UTC)
            ).total_seconds()
            - 600
        )
        < 10
    )
    await pbx4.ctl("POST", "/clock", {"offset_s": 0})
    assert (await pbx4.call("GET", "/pbx/pending")).status == 200


async def test_v4_dashboard_and_password_change(pbx4: Pbx) -> None:
    serial = await pbx4.call(
        "GET", "/dashboard/serialNumber", headers={"Accept": "application/json"}
    )
    assert json.loads(serial.body) == {"serialNumber": "KPBX-SIM-0001"}
    firmware = await pbx4.call("GET", "/system/firmware")
    assert firmware.xml().findtext("firmware/primary") == "4.10.2-6432"
    await pbx4.ctl("POST", "/password", {"password": "nuova"})
    assert (await pbx4.call("GET", "/pbx/pending")).status == 401
    pbx4.password = "nuova"
    assert (await pbx4.call("GET", "/pbx/pending")).status == 200


# ---------------------------------------------------------------- licence


async def test_license_gating_and_exemptions(pbx: Pbx) -> None:
    lic = await pbx.call("GET", "/license/pxbinstance")
    assert lic.xml().findtext("pbx_instance_license/license_status") == "ACTIVE"
    assert lic.xml().findtext("pbx_instance_license/licensed_exten") == "50"
    assert (await pbx.call("GET", "/license/pxbininstance")).status == 404

    for status, code, message in (
        ("EXPIRED", 2, "License expired"),
        ("DISABLED", 3, "License disabled"),
        ("MISSING", 1, "License missing"),
    ):
        await pbx.ctl("POST", "/license", {"status": status})
        blocked = await pbx.call(
            "GET", "/users/registrations/", params={"request_id": "r1"}
        )
        assert blocked.status == 200
        root = blocked.xml()
        assert root[0].tag == "request_id"
        assert root.findtext("request_not_allowed/error/code") == str(code)
        assert root.findtext("request_not_allowed/error/message") == message
        posted = await pbx.call(
            "POST", "/click2call", req("click2call", request_id="p1")
        )
        assert posted.xml().findtext("request_id") == "p1"
        assert posted.code("request_not_allowed/error") == code
        assert (await pbx.call("GET", "/system/network/dns")).xml().find(
            "dns"
        ) is not None
        assert (await pbx.call("PUT", "/pbx/apply")).xml().findtext(
            "pbx_applied"
        ) == "true"
        lic = await pbx.call("GET", "/license/pxbinstance")
        if status == "MISSING":
            assert lic.code("pbx_instance_license/error") == 11
        else:
            assert lic.xml().findtext("pbx_instance_license/license_status") == status
        assert (
            await pbx.call("GET", "/users/registrations/", auth=False)
        ).status == 401

    activate = await pbx.call(
        "POST",
        "/license/pxbinstance",
        req("pbx_instance_license", "<activation_key>ABCD-1234-EFGH</activation_key>"),
    )
    assert activate.code("pbx_instance_license/error") == 0
    assert (await pbx.call("GET", "/users/registrations/")).xml().find(
        "registrations"
    ) is not None

    await pbx.ctl("POST", "/license", {"status": "NOT_REQUIRED"})
    lic = await pbx.call("GET", "/license/pxbinstance")
    assert lic.code("pbx_instance_license/error") == 10
    assert (
        lic.xml().findtext("pbx_instance_license/error/message")
        == "Invalid part number for request"
    )
    assert (await pbx.call("GET", "/pbx/pending")).xml().findtext(
        "pbx_pending"
    ) == "false"


# ---------------------------------------------------------------- users


async def test_registrations_brief_configs(pbx: Pbx) -> None:
    state = pbx.state
    regs = (
        (await pbx.call("GET", "/users/registrations/"))
        .xml()
        .findall("registrations/registration")
    )
    enabled = [e for e in state.sorted_extens() if state.extensions[e].enabled]
    assert [r.findtext("exten") for r in regs] == enabled
    ok = next(r for r in regs if r.findtext("status") == "OK")
    assert ok.findtext("rtt", "").endswith(" ms")
    assert ok.findtext("contact", "").startswith(f"sip:{ok.findtext('exten')}@")
    unknown = next(r for r in regs if r.findtext("status") == "UNKNOWN")
    assert [
        unknown.findtext(t) for t in ("rtt", "contact", "ip", "port", "useragent")
    ] == [""] * 5

    one = await pbx.call("GET", "/users/registrations/201")
    assert [
        r.findtext("exten") for r in one.xml().findall("registrations/registration")
    ] == ["201"]
    none = await pbx.call("GET", "/users/registrations/999")
    assert (
        ET.tostring(none.xml()) == b"<kpbx_response><registrations /></kpbx_response>"
    )

    users = (await pbx.call("GET", "/users/brief/")).xml().findall("users/user")
    assert len(users) == 50
    assert {u.findtext("enabled") for u in users} == {"true", "false"}
    config = (await pbx.call("GET", "/users/configs/201")).xml().find("configs/config")
    assert config is not None
    tags = [c.tag for c in config]
    assert tags == [
        "exten", "sip_secret", "enabled", "first_name", "last_name", "gui_secret_md5",
        "phonebook_manager", "vm_enabled", "vm_secret", "vm_email", "vm_attach_enabled",
        "vm_message_delete", "failover",
    ]  # fmt: skip
    assert [c.tag for c in config.find("failover/destination")] == [  # type: ignore[union-attr]
        "name",
        "value",
        "gateway_type",
        "gateway_id",
        "gateway_name",
    ]
    assert (await pbx.call("GET", "/users/configs/999")).xml().find(
        "configs"
    ) is not None
    configs = (await pbx.call("GET", "/users/configs/")).xml().findall("configs/config")
    external = [
        c
        for c in configs
        if c.findtext("failover/type") == "FORWARD_TO_EXTERNAL_NUMBER"
    ]
    assert len(external) == 1
    assert external[0].findtext("failover/destination/gateway_name") == "PRI Telecom"


async def test_registration_control_changes_the_xml(pbx: Pbx) -> None:
    exten = first_with(pbx.state, status="OK")
    await pbx.call("GET", "/users/registrations/")  # warm the cache
    status, data = await pbx.ctl(
        "POST", "/registration", {"exten": exten, "status": "UNREACHABLE"}
    )
    assert status == 200
    assert data["extension"]["registration"]["status"] == "UNREACHABLE"
    reg = (
        (await pbx.call("GET", f"/users/registrations/{exten}"))
        .xml()
        .find("registrations/registration")
    )
    assert reg is not None
    assert (reg.findtext("status"), reg.findtext("rtt")) == ("UNREACHABLE", "")
    await pbx.ctl(
        "POST",
        "/registration",
        {"exten": exten, "status": "OK", "rtt_ms": 42, "useragent": "snom D785"},
    )
    regs = (
        (await pbx.call("GET", "/users/registrations/"))
        .xml()
        .findall("registrations/registration")
    )
    mine = next(r for r in regs if r.findtext("exten") == exten)
    assert (mine.findtext("rtt"), mine.findtext("useragent")) == ("42 ms", "snom D785")
    await pbx.ctl("POST", "/registration", {"exten": exten, "status": "LAGGED"})
    assert (
        "<status>LAGGED</status>"
        in (await pbx.call("GET", "/users/registrations/")).text
    )

    status, data = await pbx.ctl(
        "POST", "/registrations/change", {"fraction": 0.1, "seed": 4}
    )
    assert status == 200
    assert len(data["changed"]) == 5

    status, data = await pbx.ctl(
        "POST",
        "/extensions",
        {
            "exten": "777",
            "first_name": "Nuovo",
            "last_name": "Interno",
            "vm_enabled": True,
        },
    )
    assert status == 200
    assert "<exten>777</exten>" in (await pbx.call("GET", "/users/registrations/")).text
    status, data = await pbx.ctl("GET", "/extensions/777")
    assert data["failover"]["type"] == "FORWARD_TO_VOICEMAIL"
    assert not pbx.state.pending
    assert (await pbx.ctl("DELETE", "/extensions/777"))[0] == 200
    assert "<exten>777</exten>" not in (await pbx.call("GET", "/users/brief/")).text
    assert (await pbx.ctl("GET", "/extensions/777"))[0] == 404
    assert not pbx.state.pending  # control-side changes are applied changes


async def test_user_config_changes_pending_apply_revert(pbx: Pbx) -> None:
    state = pbx.state
    target = next(
        e
        for e in state.sorted_extens()
        if state.extensions[e].failover.type == "HANGUP"
    )
    other = next(e for e in state.sorted_extens() if e != target)
    body = req(
        "user",
        "<failover><type>FORWARD_TO_EXTEN</type><destination><value>"
        f"{other}</value><name>ignored</name></destination></failover>",
        request_id="put-1",
    )
    answer = await pbx.call("PUT", f"/users/configs/{target}", body)
    assert answer.xml()[0].tag == "request_id"
    assert answer.xml().findtext("request_id") == "put-1"
    assert answer.code("user/error") == 0
    assert (await pbx.call("GET", "/pbx/pending")).xml().findtext(
        "pbx_pending"
    ) == "true"
    dest = (
        (await pbx.call("GET", f"/users/configs/{target}"))
        .xml()
        .find("configs/config/failover/destination")
    )
    assert dest is not None
    assert dest.findtext("value") == other
    assert dest.findtext("name") == state.extensions[other].display_name

    reverted = await pbx.call("PUT", "/pbx/revert")
    assert reverted.xml().findtext("pbx_reverted") == "true"
    assert state.get_failover(target)["type"] == "HANGUP"  # type: ignore[index]
    assert (await pbx.call("GET", "/pbx/pending")).xml().findtext(
        "pbx_pending"
    ) == "false"

    vm_owner = first_with(state, vm=True)
    external = (
        "<failover><type>FORWARD_TO_EXTERNAL_NUMBER</type><destination><value>0612345678</value>"
        "<gateway_type>TRUNK</gateway_type><gateway_id>2</gateway_id></destination></failover>"
    )
    assert (
        await pbx.call("PUT", f"/users/configs/{vm_owner}", req("user", external))
    ).code("user/error") == 0
    assert (await pbx.call("PUT", "/pbx/apply")).xml().findtext("pbx_applied") == "true"
    await pbx.call("PUT", "/pbx/revert")
    assert state.get_failover(vm_owner)["gateway_name"] == "VoIP Trunk Messagenet"  # type: ignore[index]
    status, data = await pbx.ctl("GET", f"/extensions/{vm_owner}")
    assert data["committed_failover"]["value"] == "0612345678"

    refused = {
        "unknown type": "<failover><type>FORWARD_TO_MARS</type></failover>",
        "unknown exten": "<failover><type>FORWARD_TO_EXTEN</type><destination><value>9999</value></destination></failover>",
        "no gateway": "<failover><type>FORWARD_TO_EXTERNAL_NUMBER</type><destination><value>0612345678</value></destination></failover>",
        "gateway type": "<failover><type>FORWARD_TO_EXTERNAL_NUMBER</type><destination><value>0612345678</value><gateway_type>GATEWAY</gateway_type><gateway_id>2</gateway_id></destination></failover>",
        "bad bool": "<vm_enabled>maybe</vm_enabled>",
        "empty name": "<first_name></first_name>",
    }
    for what, inner in refused.items():
        assert (
            await pbx.call("PUT", f"/users/configs/{target}", req("user", inner))
        ).code("user/error") == 14, what
    assert not state.pending
    assert (
        await pbx.call(
            "PUT", "/users/configs/999", req("user", "<first_name>X</first_name>")
        )
    ).code("user/error") == 15
    assert (await pbx.call("PUT", f"/users/configs/{target}", req("user"))).code(
        "user/error"
    ) == 16
    assert (
        await pbx.call("PUT", f"/users/configs/{target}", "<kpbx_request><user>")
    ).code("user/error") == 10
    assert (await pbx.call("PUT", f"/users/configs/{target}", req("other"))).code(
        "user/error"
    ) == 10
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><kpbx_request><user><first_name>&a;</first_name></user></kpbx_request>'
    assert (await pbx.call("PUT", f"/users/configs/{target}", bomb)).code(
        "user/error"
    ) == 10


async def test_user_add_and_delete(pbx: Pbx) -> None:
    state = pbx.state
    new_user = "<exten>880</exten><sip_secret>s3cr3t</sip_secret><first_name>Lucia</first_name><last_name>D'Amico &amp; C.</last_name><vm_enabled>true</vm_enabled>"
    assert (await pbx.call("POST", "/users/configs/", req("user", new_user))).code(
        "user/error"
    ) == 13  # licence full (50/50)
    await pbx.ctl("POST", "/license", {"status": "ACTIVE", "licensed_exten": 60})
    assert (await pbx.call("POST", "/users/configs/", req("user", new_user))).code(
        "user/error"
    ) == 0
    assert state.pending
    config = (await pbx.call("GET", "/users/configs/880")).xml().find("configs/config")
    assert config is not None
    assert config.findtext("last_name") == "D'Amico & C."
    assert config.findtext("failover/type") == "FORWARD_TO_VOICEMAIL"
    assert (await pbx.call("GET", "/voicemails/count/880")).xml().findtext(
        "voicemails/voicemail/new_messages"
    ) == "0"
    assert (await pbx.call("POST", "/users/configs/", req("user", new_user))).code(
        "user/error"
    ) == 11
    missing = "<exten>881</exten><first_name>A</first_name><last_name>B</last_name>"
    assert (await pbx.call("POST", "/users/configs/", req("user", missing))).code(
        "user/error"
    ) == 12
    assert (await pbx.call("POST", "/users/configs/", "not xml at all")).code(
        "user/error"
    ) == 10
    assert (await pbx.call("DELETE", "/users/configs/880")).code("user/error") == 0
    assert (await pbx.call("DELETE", "/users/configs/880")).code("user/error") == 15
    await pbx.call("PUT", "/pbx/revert")
    assert "880" not in state.extensions


# ---------------------------------------------------------------- voicemail, firmware, engine


async def test_voicemail_firmware_engine(pbx: Pbx) -> None:
    state = pbx.state
    mailbox = first_with(state, vm=True)
    await pbx.ctl(
        "POST", "/voicemail", {"mailbox": mailbox, "new": 3, "urgent": 1, "old": 7}
    )
    vm = (
        (await pbx.call("GET", f"/voicemails/count/{mailbox}"))
        .xml()
        .find("voicemails/voicemail")
    )
    assert vm is not None
    assert [
        vm.findtext(t) for t in ("urg_messages", "new_messages", "old_messages")
    ] == ["1", "3", "7"]
    no_vm = first_with(state, vm=False)
    assert (await pbx.call("GET", f"/voicemails/count/{no_vm}")).text.endswith(
        "<voicemails/></kpbx_response>"
    )
    assert (await pbx.call("GET", "/voicemails/count/9999")).text.endswith(
        "<voicemails/></kpbx_response>"
    )
    assert (await pbx.ctl("POST", "/voicemail", {"mailbox": no_vm, "new": 1}))[0] == 400

    firmware = (await pbx.call("GET", "/system/firmware")).xml()
    assert firmware.findtext("firmware/primary") == "3.9.6-2774"
    assert firmware.findtext("firmware/running") == "primary"
    status = await pbx.call("GET", "/system/firmware/updatestatus")
    assert status.code("update_status/error") == 25
    assert (await pbx.call("PUT", "/system/firmware/update", req("nothing"))).code(
        "update/error"
    ) == 18
    bad = req("update", "<firmware_version>3.10</firmware_version>")
    assert (await pbx.call("PUT", "/system/firmware/update", bad)).code(
        "update/error"
    ) == 19
    good = req("update", "<firmware_version>3.9.7-2801</firmware_version>")
    assert (await pbx.call("PUT", "/system/firmware/update", good)).code(
        "update/error"
    ) == 0
    assert (await pbx.call("GET", "/system/firmware/updatestatus")).code(
        "update_status/error"
    ) == 26
    assert (await pbx.call("PUT", "/system/firmware/update", good)).code(
        "update/error"
    ) == 20
    await pbx.ctl("POST", "/update_status", {"code": 30})
    answer = await pbx.call("GET", "/system/firmware/updatestatus")
    assert (
        answer.xml().findtext("update_status/error/message") == "Updating is successful"
    )

    assert (await pbx.call("PUT", "/system/pbxengine/reload")).xml().findtext(
        "pbxengine_reloaded"
    ) == "true"
    await pbx.call("PUT", "/system/pbxengine/reload")
    assert (await pbx.call("PUT", "/system/pbxengine/restart")).xml().findtext(
        "pbxengine_restarted"
    ) == "true"
    assert (state.reload_count, state.restart_count) == (2, 1)


# ---------------------------------------------------------------- click2call


async def test_click2call_codes_and_records(pbx: Pbx) -> None:
    state = pbx.state
    ok = first_with(state, status="OK")
    away = first_with(state, status="UNREACHABLE")

    async def code(inner: str) -> int:
        return (await pbx.call("POST", "/click2call", req("click2call", inner))).code(
            "click2call/error_code"
        )

    assert await code("<number_to_call>0612345678</number_to_call>") == 11
    assert (
        await code("<exten></exten><number_to_call>0612345678</number_to_call>") == 11
    )
    assert await code(f"<exten>{ok}</exten>") == 12
    assert await code(f"<exten>{ok}</exten><number_to_call/>") == 12
    assert (
        await code("<exten>999</exten><number_to_call>0612345678</number_to_call>")
        == 10
    )
    assert (
        await code(f"<exten>{away}</exten><number_to_call>0612345678</number_to_call>")
        == 10
    )
    assert (
        await code(
            f"<exten>{ok}</exten><number_to_call>1</number_to_call><type>fax</type>"
        )
        == 10
    )
    assert not state.placed_calls
    assert (
        await code(
            f"<exten>{ok}</exten><number_to_call>0612345678</number_to_call><type>out</type>"
        )
        == 0
    )
    assert await code(f"<exten>{ok}</exten><number_to_call>202</number_to_call>") == 0
    status, data = await pbx.ctl("GET", "/calls")
    assert [(c["exten"], c["number"], c["type"]) for c in data["calls"]] == [
        (ok, "0612345678", "out"),
        (ok, "202", "auto"),
    ]
    last = state.cdr[-1]
    assert (last.caller_num, last.called_num, last.direction) == (ok, "202", 4)
    assert state.cdr[-2].direction == 2


# ---------------------------------------------------------------- phonebook


async def test_phonebook(pbx: Pbx) -> None:
    async def search(inner: str) -> list[str]:
        answer = await pbx.call("POST", "/phonebook/search", req("filter", inner))
        return sorted(
            c.findtext("last_name", "") + "/" + c.findtext("first_name", "")
            for c in answer.xml().findall("contacts/contact")
        )

    assert await search("<last_name>rossi</last_name>") == [
        "Rossi/Lucia",
        "Rossi/Mario",
    ]
    assert await search("<last_name>Ross</last_name>") == []
    assert await search("<last_name>Ross%</last_name>") == [
        "Rossi/Lucia",
        "Rossi/Mario",
    ]
    assert await search(
        "<last_name>%ssi</last_name><first_name>mario</first_name>"
    ) == ["Rossi/Mario"]
    assert await search("<organization>%&amp; figli%</organization>") == [
        "Rossi/Lucia",
        "Rossi/Mario",
    ]
    assert await search("<any>%caffè%</any><last_name>Nessuno</last_name>") == [
        "Bassi/Giulia"
    ]
    assert await search("<any>+390116693021</any>") == ["Bassi/Giulia"]
    assert len(await search("")) == 30
    missing = await pbx.call("POST", "/phonebook/search", "<kpbx_request/>")
    assert missing.code("contacts/error") == 19

    contacts = (
        (await pbx.call("GET", "/phonebook/contacts")).xml().findall("contacts/contact")
    )
    assert len(contacts) == 30
    rossi = next(
        c for c in contacts if c.findtext("organization") == "Rossi & Figli S.r.l."
    )
    assert [c.tag for c in rossi] == [
        "id",
        "first_name",
        "last_name",
        "organization",
        "organizational_unit",
        "type",
        "phone",
        "mail",
        "speed_dial",
    ]
    private = next(c for c in contacts if c.findtext("type") == "private")
    assert (await pbx.call("GET", "/phonebook/contacts/1")).xml().findtext(
        "contacts/contact/first_name"
    ) == "Mario"
    assert (await pbx.call("GET", "/phonebook/contacts/999")).text.endswith(
        "<contacts/></kpbx_response>"
    )

    async def code(method: str, path: str, body: str | None = None) -> int:
        return (await pbx.call(method, path, body)).code("contact/error")

    base = "<first_name>Ada</first_name><last_name>Neri</last_name><phone>0212</phone>"
    assert await code("POST", "/phonebook/contacts", req("nope")) == 10
    assert (
        await code(
            "POST", "/phonebook/contacts", req("contact", "<owner>999</owner>" + base)
        )
        == 11
    )
    assert (
        await code(
            "POST",
            "/phonebook/contacts",
            req("contact", "<first_name>Ada</first_name>"),
        )
        == 12
    )
    assert (
        await code(
            "POST", "/phonebook/contacts", req("contact", "<owner>-1</owner>" + base)
        )
        == 0
    )
    assert (
        await code(
            "POST", "/phonebook/contacts", req("contact", "<owner>201</owner>" + base)
        )
        == 0
    )
    added = max(pbx.state.contacts)
    assert pbx.state.contacts[added].type == "private"
    assert pbx.state.contacts[added - 1].type == "system"
    assert (
        await code("PUT", "/phonebook/contacts", req("contact", "<phone>1</phone>"))
        == 12
    )
    assert (
        await code(
            "PUT", "/phonebook/contacts", req("contact", "<id>999</id><phone>1</phone>")
        )
        == 15
    )
    assert (
        await code(
            "PUT",
            "/phonebook/contacts",
            req("contact", f"<id>{private.findtext('id')}</id><phone>1</phone>"),
        )
        == 17
    )
    assert (
        await code(
            "PUT", "/phonebook/contacts", req("contact", "<id>1</id><phone></phone>")
        )
        == 12
    )
    assert (
        await code(
            "PUT",
            "/phonebook/contacts",
            req("contact", "<id>1</id><phone>+39021111</phone>"),
        )
        == 0
    )
    assert pbx.state.contacts[1].phone == "+39021111"
    assert await code("DELETE", "/phonebook/contacts/abc") == 14
    assert await code("DELETE", "/phonebook/contacts/999") == 15
    assert await code("DELETE", f"/phonebook/contacts/{private.findtext('id')}") == 17
    assert await code("DELETE", "/phonebook/contacts/1") == 0
    assert not pbx.state.pending


# ---------------------------------------------------------------- callgroups, conferences


async def test_callgroups_and_conferences(pbx: Pbx) -> None:
    groups = (
        (await pbx.call("GET", "/pbx/callgroups")).xml().findall("callgroups/callgroup")
    )
    assert [g.findtext("id") for g in groups] == ["incoming", "1", "2"]
    member = groups[0].find("priorities/priority/members/member")
    assert member is not None
    assert (
        member.findtext("display_name")
        == pbx.state.extensions[member.findtext("exten", "")].display_name
    )
    assert groups[0].findtext("failover/destination/name") == "Vendite"
    assert (await pbx.call("GET", "/pbx/callgroups/42")).text.endswith(
        "<callgroups/></kpbx_response>"
    )

    async def code(method: str, path: str, body: str | None = None) -> int:
        return (await pbx.call(method, path, body)).code("callgroup/error")

    assert await code("DELETE", "/pbx/callgroups/incoming") == 17
    assert await code("DELETE", "/pbx/callgroups/42") == 15
    new = "<name>Amministrazione</name><timeout>15</timeout><priorities><priority><id>1</id><members><member><exten>201</exten></member></members></priority></priorities>"
    assert await code("POST", "/pbx/callgroups", req("callgroup", new)) == 0
    assert pbx.state.pending
    assert (
        await code("POST", "/pbx/callgroups", req("callgroup", "<timeout>5</timeout>"))
        == 12
    )
    assert await code("POST", "/pbx/callgroups", req("nope")) == 10
    bad_member = "<name>X</name><priorities><priority><members><member><exten>999</exten></member></members></priority></priorities>"
    assert await code("POST", "/pbx/callgroups", req("callgroup", bad_member)) == 14
    assert await code("PUT", "/pbx/callgroups/3", req("callgroup")) == 16
    assert (
        await code("PUT", "/pbx/callgroups/42", req("callgroup", "<name>Y</name>"))
        == 15
    )
    assert (
        await code(
            "PUT", "/pbx/callgroups/3", req("callgroup", "<name>Contabilità</name>")
        )
        == 0
    )
    group = (
        (await pbx.call("GET", "/pbx/callgroups/3")).xml().find("callgroups/callgroup")
    )
    assert group is not None
    assert group.findtext("name") == "Contabilità"
    assert (
        group.find("priorities/priority") is None
    )  # members are replaced by the request's
    await pbx.call("PUT", "/pbx/revert")
    assert "3" not in pbx.state.callgroups

    confs = (
        (await pbx.call("GET", "/pbx/conferences"))
        .xml()
        .findall("conferences/conference")
    )
    assert len(confs) == 2
    assert [c.tag for c in confs[0]] == [
        "name",
        "enabled",
        "selection",
        "admin_pin",
        "user_pin",
    ]
    assert confs[0].find("selection/internal") is not None


# ---------------------------------------------------------------- CDR


async def test_cdr_v3(pbx: Pbx) -> None:
    state = pbx.state
    period = "<begin>2026-10-01 00:00:00</begin><end>2026-11-30 23:59:59</end>"
    masked = await pbx.call("POST", "/cdr", req("cdr", period))
    assert masked.code("cdr/error_code") == 0
    calls = masked.xml().findall("cdr/calls/call")
    assert calls
    assert [c.tag for c in calls[0]] == [
        "unique_id", "id", "direction", "caller_num", "caller_name", "called_num", "called_name",
        "called_callgroup", "gateway_id", "gateway_name", "status", "billsec", "start", "answer",
        "end", "duration",
    ]  # fmt: skip
    outbound = [c for c in calls if c.findtext("direction") == "2"]
    assert outbound
    assert all(c.findtext("called_num", "").endswith("XXX") for c in outbound)
    assert all(c.findtext("caller_name") == "" for c in calls)
    internal = [c for c in calls if c.findtext("direction") == "4"]
    assert all(not c.findtext("called_num", "").endswith("XXX") for c in internal)
    unanswered = [c for c in calls if c.findtext("status") != "8"]
    assert all(
        c.findtext("answer") == "" and c.findtext("billsec") == "0" for c in unanswered
    )

    md5 = hashlib.md5(
        state.privacy_password.encode(), usedforsecurity=False
    ).hexdigest()
    clear = await pbx.call(
        "POST",
        "/cdr",
        req("cdr", f"<privacy_password>{md5}</privacy_password>{period}"),
    )
    clear_calls = clear.xml().findall("cdr/calls/call")
    assert len(clear_calls) == len(calls)
    assert not any(c.findtext("called_num", "").endswith("XXX") for c in clear_calls)
    assert any(c.findtext("caller_name") for c in clear_calls)

    wrong = await pbx.call(
        "POST", "/cdr", req("cdr", "<privacy_password>00</privacy_password>")
    )
    assert wrong.code("cdr/error_code") == 3
    assert wrong.xml().find("cdr/calls") is None
    reversed_period = "<begin>2026-11-02 00:00:00</begin><end>2026-11-01 00:00:00</end>"
    assert (await pbx.call("POST", "/cdr", req("cdr", reversed_period))).code(
        "cdr/error_code"
    ) == 11
    assert (await pbx.call("POST", "/cdr", "<kpbx_request/>")).code(
        "cdr/error_code"
    ) == 12

    filtered = await pbx.call(
        "POST",
        "/cdr",
        req(
            "cdr",
            f"{period}<filter><direction>2</direction><status>8</status></filter>",
        ),
    )
    rows = filtered.xml().findall("cdr/calls/call")
    assert rows
    assert {(c.findtext("direction"), c.findtext("status")) for c in rows} == {
        ("2", "8")
    }
    first = clear_calls[0].findtext("unique_id", "")
    by_id = await pbx.call(
        "POST", "/cdr", req("cdr", f"{period}<filter><any>{first}</any></filter>")
    )
    assert [c.findtext("unique_id") for c in by_id.xml().findall("cdr/calls/call")] == [
        first
    ]
    prefix = await pbx.call(
        "POST",
        "/cdr",
        req(
            "cdr",
            f"{period}<filter><unique_id>{first.split('.')[0]}%</unique_id></filter>",
        ),
    )
    assert first in [
        c.findtext("unique_id") for c in prefix.xml().findall("cdr/calls/call")
    ]

    month = await pbx.call("POST", "/cdr", req("cdr"))  # default: this month until now
    now = state.local_now()
    expected = [
        r
        for r in state.cdr
        if r.end >= now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    ]
    assert len(month.xml().findall("cdr/calls/call")) == len(expected)
    as_csv = await pbx.call(
        "POST", "/cdr", req("cdr", period), headers={"Accept": "text/csv"}
    )
    assert as_csv.text.splitlines()[0].startswith("unique_id,id,direction")


V4_CDR_FIELDS = [
    "id", "source", "start_time", "answer_time", "end_time", "account_code", "caller",
    "gateway_name", "called", "status", "answered_by", "bill_secs", "duration",
    "destination",
]  # fmt: skip
V4_TYPES = {1: ("ibl", {"local_exten", "callg"}), 2: ("local_exten", {"obl"}), 4: ("local_exten", {"local_exten"})}  # fmt: skip


async def test_cdr_v4() -> None:
    state = build_scenario(20, auth="v4")
    truth = {r.unique_id: r for r in state.cdr}
    async with serve(state) as pbx:
        now = state.local_now()
        this_month = [
            r
            for r in state.cdr
            if (r.start.year, r.start.month) == (now.year, now.month)
        ]
        default = await pbx.call("GET", "/cdr/summary")  # this month so far
        assert len(default.calls()) == len(this_month)
        # Early on the 1st this month has no calls yet: look at the last call's.
        last = max(r.start for r in state.cdr)
        in_month = [
            r
            for r in state.cdr
            if (r.start.year, r.start.month) == (last.year, last.month)
        ]
        summary = await pbx.call("GET", f"/cdr/summary/{last.year}/{last.month:02d}")
        calls = summary.calls()
        assert len(calls) == len(in_month) > 0
        # Exactly the manual's fields: no direction, only type codes.
        assert all([c.tag for c in call] == V4_CDR_FIELDS for call in calls)
        for call in calls:
            source, destinations = V4_TYPES[truth[call.findtext("id", "")].direction]
            assert call.findtext("source") == source
            assert call.findtext("destination") in destinations
        assert {c.findtext("status") for c in calls} <= {
            "OK",
            "NOANSWER",
            "BUSY",
            "FAILED",
            "CONGESTION",
        }

        year = now.year
        whole = await pbx.call(
            "GET",
            f"/cdr/summary/{year - 1}-{year}",
            headers={"Accept": "application/json"},
        )
        rows = json.loads(whole.body)
        assert isinstance(rows, list)
        assert len(rows) == len(state.cdr)
        assert list(rows[0]) == V4_CDR_FIELDS
        assert isinstance(rows[0]["bill_secs"], int)
        assert isinstance(rows[0]["duration"], int)
        as_csv = await pbx.call(
            "GET",
            f"/cdr/summary/{year - 1}-{year}",
            headers={"Accept": "text/csv"},
        )
        header, *lines = as_csv.text.splitlines()
        assert header == "#" + ",".join(V4_CDR_FIELDS)
        assert len(lines) == len(state.cdr)
        first = state.cdr[0].start
        day = await pbx.call(
            "GET",
            f"/cdr/detailed/{first.year}/{first.month:02d}/{first.day:02d}-{first.day:02d}",
        )
        same_day = [r for r in state.cdr if r.start.date() == first.date()]
        rows_of_day = day.calls()
        assert len(rows_of_day) == len(same_day)
        assert [c.tag for c in rows_of_day[0]] == V4_CDR_FIELDS
        months = await pbx.call("GET", f"/cdr/summary/{year}/01-12")
        assert len(months.calls()) == sum(1 for r in state.cdr if r.start.year == year)

        compat = await pbx.call("GET", f"/cdr/v3_compat/{year - 1}-{year}")
        assert compat.code("cdr/error_code") == 0
        assert len(compat.xml().findall("cdr/calls/call")) == len(state.cdr)
        blues = await pbx.call("GET", f"/cdr/blues_out/{year - 1}-{year}")
        assert blues.headers["Content-Type"].startswith("text/plain")
        assert len(blues.text.splitlines()) == len(state.cdr)

        target = state.cdr[5]
        body = f"<kpbx_request><cdr><begin>2000-01-01 00:00:00</begin><end/><unique_id>{target.unique_id}</unique_id></cdr></kpbx_request>"
        posted = await pbx.call("POST", "/cdr/summary", body)
        assert [c.findtext("id") for c in posted.calls()] == [target.unique_id]
        as_json = await pbx.call(
            "POST", "/cdr/summary", json.dumps({"cdr": {"begin": "2000-01-01 00:00:00"}}),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )  # fmt: skip
        assert len(json.loads(as_json.body)) == len(state.cdr)

        assert (await pbx.call("GET", f"/cdr/summary/{year}/13")).status == 400
        assert (await pbx.call("GET", "/cdr/summary/20x6")).status == 400
        assert (await pbx.call("GET", "/cdr/nope")).status == 404


# ---------------------------------------------------------------- faults, endpoints, counters


async def test_faults_of_every_kind(pbx: Pbx) -> None:
    path = "/users/registrations/"

    async def faulted(kind: str, **extra: Any) -> Answer:
        status, _ = await pbx.ctl(
            "POST", "/faults", {"path": path, "kind": kind, **extra}
        )
        assert status == 200
        return await pbx.call("GET", path)

    assert (await faulted("http500")).status == 500
    assert (await faulted("http401")).status == 401
    assert (await faulted("http403")).status == 403
    not_found = await faulted("http404")
    assert not_found.status == 404
    assert "Not Found" in not_found.text
    for kind in ("malformed", "truncated"):
        answer = await faulted(kind)
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "text/xml; charset=UTF-8"
        with pytest.raises(ET.ParseError):
            parse_xml(answer.body)
    html = await faulted("html")
    assert (html.status, html.headers["Content-Type"].split(";")[0]) == (
        200,
        "text/html",
    )
    empty = await faulted("empty")
    assert (empty.status, empty.body) == (200, b"")
    started = time.perf_counter()
    delayed = await faulted("delay", delay_s=0.2)
    assert time.perf_counter() - started >= 0.2
    assert delayed.xml().find("registrations") is not None
    gated = await faulted("request_not_allowed")
    assert gated.code("request_not_allowed/error") == 2
    canned = "<kpbx_response><registrations/></kpbx_response>"
    answer = await faulted("answer", body=canned)
    assert (answer.status, answer.body) == (200, canned.encode())
    assert (await pbx.ctl("POST", "/faults", {"path": "/", "kind": "answer"}))[0] == 400
    redirected = await faulted("redirect")
    assert redirected.status == 301
    assert redirected.headers["Location"].startswith("https://127.0.0.1/rest/")
    # An exact fault leaves longer paths alone.
    await pbx.ctl(
        "POST",
        "/faults",
        {"path": "/system/firmware", "kind": "http500", "exact": True},
    )
    assert (await pbx.call("GET", "/system/firmware/updatestatus")).status == 200
    assert (await pbx.call("GET", "/system/firmware")).status == 500

    # aiohttp retries an idempotent request once after a disconnect: two resets
    # reach the caller, one is absorbed by the retry.
    await pbx.ctl("POST", "/faults", {"path": path, "kind": "reset", "count": 2})
    with pytest.raises(aiohttp.ClientConnectionError):
        await pbx.call("GET", path)
    await pbx.ctl("POST", "/faults", {"path": path, "kind": "reset"})
    assert (await pbx.call("GET", path)).status == 200
    await pbx.ctl("POST", "/faults", {"path": "/cdr", "kind": "reset"})
    with pytest.raises(aiohttp.ClientConnectionError):  # POST is not retried
        await pbx.call("POST", "/cdr", req("cdr"))

    # count, prefix matching, clearing
    await pbx.ctl(
        "POST",
        "/faults",
        {"path": "/voicemails/count/2", "kind": "http500", "count": 2},
    )
    assert (await pbx.call("GET", "/voicemails/count/201")).status == 500
    assert (await pbx.call("GET", "/pbx/pending")).status == 200
    assert (await pbx.call("GET", "/voicemails/count/202")).status == 500
    assert (await pbx.call("GET", "/voicemails/count/201")).status == 200
    await pbx.ctl("POST", "/faults", {"path": "/", "kind": "http500", "count": 5})
    assert (await pbx.ctl("GET", "/faults"))[1]["faults"][0]["remaining"] == 5
    await pbx.ctl("DELETE", "/faults")
    assert (await pbx.call("GET", "/pbx/pending")).status == 200
    assert (await pbx.ctl("POST", "/faults", {"path": "/", "kind": "meteor"}))[0] == 400
    assert (await pbx.ctl("POST", "/faults", {"path": "/", "kind": "delay"}))[0] == 400


async def test_disabled_endpoints_latency_and_counters(pbx: Pbx) -> None:
    await pbx.ctl("POST", "/counters/reset")
    await pbx.ctl("POST", "/endpoints/disable", {"prefix": "/voicemails/"})
    off = await pbx.call("GET", "/voicemails/count/201")
    assert off.status == 404
    assert off.headers["Content-Type"].startswith("text/html")
    await pbx.ctl("POST", "/endpoints/enable", {"prefix": "/voicemails/"})
    assert (await pbx.call("GET", "/voicemails/count/201")).status == 200

    await pbx.ctl("POST", "/latency", {"ms": 500})
    started = time.perf_counter()
    await asyncio.gather(
        *(pbx.call("GET", f"/voicemails/count/{e}") for e in ("202", "203", "204"))
    )
    elapsed = time.perf_counter() - started
    assert 0.5 <= elapsed < 1.4  # concurrent requests overlap their latency
    started = time.perf_counter()
    await pbx.ctl("GET", "/state")
    assert time.perf_counter() - started < 0.4  # the control API is not delayed
    await pbx.ctl("POST", "/latency", {"ms": 0})

    await pbx.call("GET", "/users/registrations/")
    await pbx.call("GET", "/users/registrations/", auth=False)
    await pbx.call("PUT", "/pbx/apply")
    await pbx.call("GET", "/rest-of-nothing/here")
    status, counters = await pbx.ctl("GET", "/counters")
    assert counters == {
        "GET /voicemails/count/{mailbox}": 5,
        "GET /users/registrations/": 2,
        "PUT /pbx/apply": 1,
        "GET /rest-of-nothing/here": 1,
    }
    await pbx.ctl("POST", "/counters/reset")
    assert (await pbx.ctl("GET", "/counters"))[1] == {}


async def test_control_api(pbx: Pbx) -> None:
    status, summary = await pbx.ctl("GET", "/state")
    assert status == 200
    assert summary["auth"] == "v3"
    assert summary["extensions"] == 50
    assert summary["license"] == {"status": "ACTIVE", "licensed_exten": 50}
    assert summary["firmware"]["primary"] == "3.9.6-2774"

    await pbx.ctl("POST", "/pending", {"pending": True})
    assert (await pbx.call("GET", "/pbx/pending")).xml().findtext(
        "pbx_pending"
    ) == "true"
    status, summary = await pbx.ctl("GET", "/state")
    assert summary["pending"] is True

    bad = [
        ("POST", "/registration", {"exten": "999", "status": "OK"}),
        ("POST", "/registration", {"status": "OK"}),
        ("POST", "/registrations/change", {"fraction": 2}),
        ("POST", "/license", {"status": "GOLD"}),
        ("POST", "/latency", {"ms": "fast"}),
        ("POST", "/latency", {"ms": -1}),
        ("POST", "/extensions", {"exten": "201", "first_name": "A", "last_name": "B"}),
        ("POST", "/extensions", {"exten": "20a", "first_name": "A", "last_name": "B"}),
        (
            "POST",
            "/extensions",
            {"exten": "990", "first_name": "A\u0000", "last_name": "B"},
        ),
        ("POST", "/clock", {}),
        ("POST", "/password", {"password": ""}),
        ("POST", "/pending", {"pending": "yes"}),
        ("POST", "/update_status", {"code": 99}),
        ("POST", "/endpoints/disable", {"prefix": 3}),
    ]
    for method, path, payload in bad:
        status, data = await pbx.ctl(method, path, payload)
        assert status == 400, (path, payload)
        assert "error" in data
    async with pbx.session.post(
        f"{pbx.sim.control_url}/latency", data=b"{not json"
    ) as resp:
        assert resp.status == 400
    assert (await pbx.ctl("DELETE", "/extensions/999"))[0] == 404


async def test_request_id_and_malformed_bodies(pbx: Pbx) -> None:
    answer = await pbx.call("GET", "/pbx/pending", params={"request_id": "abc<&>"})
    root = answer.xml()
    assert [child.tag for child in root] == ["request_id", "pbx_pending"]
    assert root.findtext("request_id") == "abc<&>"
    posted = await pbx.call(
        "POST", "/click2call", req("click2call", "", request_id="xyz")
    )
    assert posted.xml().findtext("request_id") == "xyz"
    assert posted.code("click2call/error_code") == 11
    for path, wrapper in (
        ("/phonebook/contacts", "contact/error"),
        ("/pbx/callgroups", "callgroup/error"),
        ("/click2call", "click2call/error_code"),
    ):
        answer = await pbx.call("POST", path, b"\x00\xff<<<")
        assert answer.status == 200
        assert answer.code(wrapper) in (10, 11)
    no_id = await pbx.call("GET", "/users/registrations/")
    assert no_id.xml()[0].tag == "registrations"
    with_id = await pbx.call(
        "GET", "/users/registrations/", params={"request_id": "r9"}
    )
    assert with_id.xml()[0].tag == "request_id"
    assert len(with_id.xml().findall("registrations/registration")) == len(
        no_id.xml().findall("registrations/registration")
    )


async def test_tls(tmp_path: Any) -> None:
    cert, key = make_self_signed_cert(tmp_path)
    client_context = ssl.create_default_context(cafile=str(cert))
    async with (
        run_simulator(
            build_scenario(3), ssl_context=server_ssl_context(cert, key)
        ) as sim,
        aiohttp.ClientSession() as session,
    ):
        assert sim.url.startswith("https://127.0.0.1:")
        token = base64.b64encode(f"admin:{MD5_ADMIN}".encode()).decode()
        async with session.get(
            f"{sim.rest_url}/pbx/pending",
            headers={"Authorization": f"Basic {token}"},
            ssl=client_context,
        ) as resp:
            assert resp.status == 200
            assert b"<pbx_pending>false</pbx_pending>" in await resp.read()
