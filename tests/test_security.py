"""Security guarantees, checked against the simulated PBX.

- No secret (extension SIP/voicemail/GUI secrets, the admin password and
  what is derived from it, the CDR privacy password, the 4.x salt and
  digest) reaches a state, an attribute, the log at DEBUG level, the
  diagnostics or the repr of a runtime object; the entry stores no
  plaintext password.
- 4.x nonces never repeat.
- HTTPS verification: a self-signed PBX is refused as not trusted unless the
  user turns verification off, and works with verification on once its
  certificate is trusted.
- Bounded resources: the answer size cap, the request timeout and the cap on
  requests in flight hold, measured at the simulator.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
import json
import logging
from pathlib import Path
import random
import re
import ssl
import time
from typing import Any
from unittest.mock import patch

import aiohttp
from aiohttp import web
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SSL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import (
    BasicCredentials,
    DigestCredentials,
    KalliopeCertificateError,
    KalliopeClient,
    KalliopeConnectionError,
    KalliopeResponseError,
)
from custom_components.kalliopepbx.const import (
    CONF_AUTH,
    CONF_CDR_PRIVACY_MD5,
    CONF_TENANT_DOMAIN,
    DOMAIN,
    VOICEMAIL_CONCURRENCY,
)
from custom_components.kalliopepbx.diagnostics import (
    async_get_config_entry_diagnostics,
)
from simulator import PbxState, RunningSimulator, build_scenario, run_simulator
from simulator.app import create_app
from simulator.tls import make_self_signed_cert

from .conftest import PBX_ID, TITLE, entry_data, md5_hex, serve_over_tls
from .test_faults import VirtualClock

ADMIN_PASSWORD = "Adm1n-Secret-7f3kQ"
PRIVACY_PASSWORD = "Pr1vacy-Secret-Zx9w"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(params=["v3", "v4"])
def auth(request: pytest.FixtureRequest) -> str:
    """Both authentication schemes."""
    return str(request.param)


@pytest.fixture
def scenario(auth: str) -> dict[str, Any]:
    """The demo PBX with a strong admin password."""
    return {
        "extensions": 12,
        "scenario": "demo",
        "auth": auth,
        "password": ADMIN_PASSWORD,
    }


@pytest.fixture
def pbx_state(scenario: dict[str, Any]) -> PbxState:
    """The demo PBX with voicemail PINs and a privacy password nothing else contains."""
    state = build_scenario(**scenario)
    rng = random.Random(7)  # noqa: S311 - test data, reproducible
    for exten, ext in list(state.extensions.items()):
        if ext.vm_enabled:
            pin = str(rng.randint(10**8, 10**9 - 1))
            state.extensions[exten] = replace(ext, vm_secret=pin)
            if exten in state.committed_extensions:
                state.committed_extensions[exten] = replace(
                    state.committed_extensions[exten], vm_secret=pin
                )
    state.privacy_password = PRIVACY_PASSWORD
    state.invalidate()
    return state


def credentials_for(state: PbxState) -> BasicCredentials | DigestCredentials:
    """What the config flow derives from the admin password for this PBX."""
    if state.auth == "v4":
        return DigestCredentials.from_password(ADMIN_PASSWORD, state.salt)
    return BasicCredentials.from_password(ADMIN_PASSWORD)


@pytest.fixture
def config_entry(
    hass: HomeAssistant, simulator: RunningSimulator, pbx_state: PbxState
) -> MockConfigEntry:
    """The entry as the config flow stores it, with a CDR privacy password."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=PBX_ID,
        data=entry_data(simulator, **{CONF_AUTH: credentials_for(pbx_state).as_dict()}),
        options={CONF_CDR_PRIVACY_MD5: md5_hex(PRIVACY_PASSWORD)},
        entry_id="01JKALLIOPEPBXSECURITY0001",
    )
    entry.add_to_hass(hass)
    return entry


def secrets_of(state: PbxState) -> dict[str, str]:
    """Every secret the PBX and the entry hold, by what it is."""
    basic_token = base64.b64encode(f"admin:{md5_hex(ADMIN_PASSWORD)}".encode()).decode()
    secrets = {
        "admin password": ADMIN_PASSWORD,
        "admin password md5": md5_hex(ADMIN_PASSWORD),
        "basic auth token": basic_token,
        "privacy password": PRIVACY_PASSWORD,
        "privacy password md5": md5_hex(PRIVACY_PASSWORD),
    }
    if state.auth == "v4":
        secrets["v4 salt"] = state.salt
        secrets["v4 digest"] = state.digest_password
    for exten, ext in state.extensions.items():
        secrets[f"{exten} sip_secret"] = ext.sip_secret
        secrets[f"{exten} gui_secret_md5"] = ext.gui_secret_md5
        if ext.vm_secret:
            secrets[f"{exten} vm_secret"] = ext.vm_secret
    return secrets


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Which secrets appear in `text` (case-insensitively: hex digests)."""
    lowered = text.lower()
    return sorted(what for what, value in secrets.items() if value.lower() in lowered)


# ---------------------------------------------------------------- secrets


async def test_no_secret_in_states_logs_diagnostics_or_reprs(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Setup, polling, an outage, a licence problem and a CDR query, all at DEBUG."""
    caplog.set_level(logging.DEBUG)
    secrets = secrets_of(pbx_state)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    clock = VirtualClock(hass)
    try:
        await clock.advance(11 * 60)
        pbx_state.add_fault("/", "http500", count=10**6)
        await clock.advance(60)
        pbx_state.clear_faults()
        await clock.advance(30)
        pbx_state.set_license("EXPIRED")
        await clock.advance(60)
        pbx_state.set_license("ACTIVE")
        await clock.advance(60)
        records = await hass.services.async_call(
            DOMAIN,
            "get_call_records",
            {"config_entry_id": config_entry.entry_id},
            blocking=True,
            return_response=True,
        )
        assert records["count"] > 0
        runtime = config_entry.runtime_data
        diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    finally:
        clock.restore()

    states = json.dumps(
        [(s.entity_id, s.state, dict(s.attributes)) for s in hass.states.async_all()],
        default=str,
    )
    assert leaks(states, secrets) == []
    log = "\n".join(
        [caplog.text]
        + [record.getMessage() for record in caplog.records]
        + [str(record.exc_info) for record in caplog.records if record.exc_info]
    )
    assert len(caplog.records) > 100  # the whole run was logged at DEBUG
    assert leaks(log, secrets) == []
    assert leaks(json.dumps(diagnostics, default=str), secrets) == []
    reprs = [
        repr(runtime),
        repr(runtime.client),
        repr(runtime.client.credentials),
        str(runtime.client.credentials),
        repr(runtime.health.__dict__),
        repr(config_entry),
        *(
            repr(coordinator.last_exception)
            for coordinator in (
                runtime.registrations,
                runtime.voicemail,
                runtime.system,
            )
        ),
    ]
    assert leaks("\n".join(reprs), secrets) == []


async def test_entry_holds_no_plaintext_password(
    hass: HomeAssistant, pbx_state: PbxState, socket_enabled: None
) -> None:
    """Through the config flow: derived secrets only, never the passwords."""
    async with run_simulator(pbx_state) as sim:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": "user"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_HOST: sim.host,
                CONF_PORT: sim.port,
                CONF_SSL: False,
                CONF_VERIFY_SSL: True,
                CONF_USERNAME: "admin",
                CONF_PASSWORD: ADMIN_PASSWORD,
                CONF_TENANT_DOMAIN: "default",
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        stored = json.dumps([dict(entry.data), dict(entry.options)])
        assert ADMIN_PASSWORD not in stored
        assert PRIVACY_PASSWORD not in stored
        assert await hass.config_entries.async_unload(entry.entry_id)


# ---------------------------------------------------------------- nonces


@pytest.mark.parametrize("auth", ["v4"])
async def test_v4_nonces_never_repeat(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
) -> None:
    """Every request of a long run carries a fresh nonce; the PBX accepts them all."""
    seen: list[str] = []
    accept = pbx_state.use_nonce

    def record(nonce: str) -> bool:
        seen.append(nonce)
        return accept(nonce)

    pbx_state.use_nonce = record  # type: ignore[method-assign]
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    clock = VirtualClock(hass)
    try:
        await clock.advance(3600, step=30)
    finally:
        clock.restore()

    assert len(seen) > 600
    assert len(set(seen)) == len(seen)
    assert all(re.fullmatch(r"[0-9a-f]{32}", nonce) for nonce in seen)
    assert len(seen) == sum(pbx_state.counters.values())  # none refused, none skipped


def test_v4_header_nonces_are_fresh_and_random() -> None:
    """100 000 headers built in the same second: no nonce twice."""
    credentials = DigestCredentials.from_password(ADMIN_PASSWORD, "salt")
    moment = credentials_moment()
    nonces = {
        re.search(
            r'Nonce="([0-9a-f]+)"', credentials.headers(moment)["X-authenticate"]
        )[1]  # type: ignore[index]
        for _ in range(100_000)
    }
    assert len(nonces) == 100_000


def credentials_moment() -> Any:
    """A fixed moment (nonces must not depend on the clock)."""
    from datetime import UTC, datetime

    return datetime(2025, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- HTTPS


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    return make_self_signed_cert(tmp_path)


@pytest.fixture
async def tls_simulator(
    socket_enabled: None, pbx_state: PbxState, certificate: tuple[Path, Path]
) -> AsyncIterator[RunningSimulator]:
    """The simulated PBX over HTTPS with its self-signed certificate."""
    async with serve_over_tls(pbx_state, *certificate) as sim:
        yield sim


@pytest.fixture
async def trusting_session(
    certificate: tuple[Path, Path],
) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose trust store holds the PBX's certificate."""
    context = ssl.create_default_context(cafile=str(certificate[0]))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
    yield session
    await session.close()


def flow_input(sim: RunningSimulator, *, verify: bool) -> dict[str, Any]:
    """The config flow's first form for the TLS simulator."""
    return {
        CONF_HOST: sim.host,
        CONF_PORT: sim.port,
        CONF_SSL: True,
        CONF_VERIFY_SSL: verify,
        CONF_USERNAME: "admin",
        CONF_PASSWORD: ADMIN_PASSWORD,
        CONF_TENANT_DOMAIN: "default",
    }


async def test_self_signed_pbx_refused_unless_verification_is_off(
    hass: HomeAssistant, tls_simulator: RunningSimulator
) -> None:
    """certificate_not_trusted with verification on; the entry is created with it off."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], flow_input(tls_simulator, verify=True)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_VERIFY_SSL: "certificate_not_trusted"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], flow_input(tls_simulator, verify=False)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SSL] is True
    assert result["data"][CONF_VERIFY_SSL] is False
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(result["result"].entry_id)


async def test_verified_https_with_a_trusted_certificate(
    hass: HomeAssistant,
    tls_simulator: RunningSimulator,
    trusting_session: aiohttp.ClientSession,
    pbx_state: PbxState,
) -> None:
    """Verification on and the PBX's certificate trusted: the entry works over HTTPS."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=PBX_ID,
        data=entry_data(
            tls_simulator,
            **{
                CONF_SSL: True,
                CONF_VERIFY_SSL: True,
                CONF_AUTH: credentials_for(pbx_state).as_dict(),
            },
        ),
    )
    entry.add_to_hass(hass)
    with patch(
        "custom_components.kalliopepbx.async_get_clientsession",
        return_value=trusting_session,
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert (
            hass.states.get("binary_sensor.reception_front_desk_registered").state
            == "on"
        )
        assert str(entry.runtime_data.client.base_url).startswith("https://")
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_client_verifies_certificates(
    tls_simulator: RunningSimulator,
    trusting_session: aiohttp.ClientSession,
    pbx_state: PbxState,
) -> None:
    """The client alone: untrusted fails as a certificate error, trusted works."""
    credentials = credentials_for(pbx_state)

    def client(session: aiohttp.ClientSession, *, verify: bool) -> KalliopeClient:
        return KalliopeClient(
            session,
            tls_simulator.host,
            port=tls_simulator.port,
            use_ssl=True,
            verify_ssl=verify,
            credentials=credentials,
        )

    async with aiohttp.ClientSession() as default_session:
        with pytest.raises(KalliopeCertificateError):
            await client(default_session, verify=True).registrations()
        assert await client(default_session, verify=False).registrations()
    assert await client(trusting_session, verify=True).registrations()


# ---------------------------------------------------------------- bounded resources


InFlight = dict[str, int]


@pytest.fixture
async def counted_simulator(
    socket_enabled: None, pbx_state: PbxState
) -> AsyncIterator[tuple[RunningSimulator, InFlight]]:
    """The simulator with a middleware that measures requests in flight."""
    in_flight: InFlight = {"now": 0, "max": 0}

    @web.middleware
    async def count(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        in_flight["now"] += 1
        in_flight["max"] = max(in_flight["max"], in_flight["now"])
        try:
            return await handler(request)
        finally:
            in_flight["now"] -= 1

    app = create_app(pbx_state)
    app.middlewares.insert(0, count)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield RunningSimulator(pbx_state, "127.0.0.1", port, "http"), in_flight
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("auth", ["v3"])
async def test_answer_size_cap(
    simulator: RunningSimulator, pbx_state: PbxState
) -> None:
    """An answer over the cap is refused, by its length or while streaming."""
    async with aiohttp.ClientSession() as session:
        client = KalliopeClient(
            session,
            simulator.host,
            port=simulator.port,
            credentials=credentials_for(pbx_state),
            max_response_bytes=1024,
        )
        with pytest.raises(KalliopeResponseError, match="larger than 1024 bytes"):
            await client.users_configs()
        assert await client.pending() in (True, False)  # small answers still pass


async def test_streamed_answer_size_cap(socket_enabled: None) -> None:
    """A chunked answer without a length stops being read at the cap."""
    sent = {"bytes": 0}

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "text/xml"
        await response.prepare(request)
        chunk = b"<kpbx_response>" + b" " * 65536
        try:
            for _ in range(1000):  # 64 MB if nobody stops reading
                await response.write(chunk)
                sent["bytes"] += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/rest/pbx/pending", endless)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        async with aiohttp.ClientSession() as session:
            client = KalliopeClient(
                session,
                "127.0.0.1",
                port=port,
                credentials=BasicCredentials.from_password(ADMIN_PASSWORD),
                max_response_bytes=256 * 1024,
            )
            started = time.perf_counter()
            with pytest.raises(KalliopeResponseError, match="larger than"):
                await client.pending()
            assert time.perf_counter() - started < 5
    finally:
        await runner.cleanup()
    assert sent["bytes"] < 64 * 65536


@pytest.mark.parametrize("auth", ["v3"])
async def test_request_timeout(
    simulator: RunningSimulator, pbx_state: PbxState
) -> None:
    """A PBX that does not answer costs the timeout, not more."""
    pbx_state.add_fault("/pbx/pending", "delay", count=1, delay_s=2.0)
    async with aiohttp.ClientSession() as session:
        client = KalliopeClient(
            session,
            simulator.host,
            port=simulator.port,
            credentials=credentials_for(pbx_state),
            timeout=0.3,
        )
        started = time.perf_counter()
        with pytest.raises(KalliopeConnectionError, match="no answer within 0.3 s"):
            await client.pending()
        # Well under the delay, with room for a loaded machine.
        assert time.perf_counter() - started < 1.5
    await asyncio.sleep(1.8)  # let the simulator finish the abandoned answer


@pytest.mark.parametrize("auth", ["v3"])
async def test_client_concurrency_cap(
    counted_simulator: tuple[RunningSimulator, InFlight], pbx_state: PbxState
) -> None:
    """Thirty calls at once, three slots: never more than three at the PBX."""
    sim, in_flight = counted_simulator
    pbx_state.set_latency(30)
    mailboxes = [e for e, ext in pbx_state.extensions.items() if ext.vm_enabled]
    async with aiohttp.ClientSession() as session:
        client = KalliopeClient(
            session,
            sim.host,
            port=sim.port,
            credentials=credentials_for(pbx_state),
            max_concurrent_requests=3,
        )
        await asyncio.gather(*(client.voicemail_count(m) for m in mailboxes * 5))
    assert in_flight["max"] == 3
    assert in_flight["now"] == 0


@pytest.mark.parametrize(
    "scenario", [{"extensions": 60, "auth": "v3", "password": ADMIN_PASSWORD}]
)
async def test_integration_voicemail_fan_out_is_bounded(
    hass: HomeAssistant,
    counted_simulator: tuple[RunningSimulator, InFlight],
    pbx_state: PbxState,
) -> None:
    """Dozens of mailboxes polled together: at most the fan-out cap in flight."""
    sim, in_flight = counted_simulator
    pbx_state.set_latency(20)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=PBX_ID,
        data=entry_data(sim, **{CONF_AUTH: credentials_for(pbx_state).as_dict()}),
    )
    entry.add_to_hass(hass)
    mailboxes = sum(1 for ext in pbx_state.extensions.values() if ext.vm_enabled)
    assert mailboxes > 3 * VOICEMAIL_CONCURRENCY
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    in_flight["max"] = 0
    await entry.runtime_data.voicemail.async_refresh()
    assert pbx_state.counters["GET /voicemails/count/{mailbox}"] >= 2 * mailboxes
    assert 1 < in_flight["max"] <= VOICEMAIL_CONCURRENCY
    assert await hass.config_entries.async_unload(entry.entry_id)
