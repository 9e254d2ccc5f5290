"""The config flow: add, errors, reauth, reconfigure, options.

Errors and the 4.x/3.x detection run on the reference-shaped PBX; TLS, clock
skew and moving between PBXs on the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
)
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
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import DigestCredentials, KalliopeApiError
from custom_components.kalliopepbx.connection import parse_target
from custom_components.kalliopepbx.const import (
    CONF_ALLOWED_NUMBERS,
    CONF_AUTH,
    CONF_BACKUPS_TO_KEEP,
    CONF_CDR_PRIVACY_MD5,
    CONF_CDR_PRIVACY_PASSWORD,
    CONF_EXTENSIONS,
    CONF_PBX_ID,
    CONF_TENANT_DOMAIN,
    CONF_VOICE_FORWARDING_WITHOUT_USER,
    CONF_VOICEMAIL_SENSORS,
    DEFAULT_BACKUPS_TO_KEEP,
    DOMAIN,
)
from simulator import (
    PbxState,
    RunningSimulator,
    build_scenario,
    make_self_signed_cert,
    run_simulator,
)

from .conftest import (
    PBX_ID,
    digest_password,
    entry_data,
    free_port,
    load_fixture_bytes,
    md5_hex,
    open_options,
    serve_over_tls,
)
from .reference_pbx import (
    PASSWORD as REFERENCE_PASSWORD,
    Canned,
    ReferencePbx,
    reference_pbx as serve_reference_pbx,
)

PASSWORD = "S3cret-Pa55w0rd"
V4_SERIAL = "KPBX-4X-000042"
CONNECT = "custom_components.kalliopepbx.config_flow.async_connect"

# The shared `config_entry` fixture holds the credentials of the factory password.
ADMIN_PASSWORD = pytest.mark.parametrize("scenario", [{"extensions": 3}])


@pytest.fixture
def scenario() -> dict[str, Any]:
    """A small v3 PBX with a password nobody would confuse with other data."""
    return {"extensions": 3, "password": PASSWORD}


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """Keep entry setup out of tests that only look at the flow."""
    with patch(
        "custom_components.kalliopepbx.async_setup_entry", return_value=True
    ) as mock:
        yield mock


def user_input(sim: RunningSimulator, **overrides: Any) -> dict[str, Any]:
    """What a user types to add the simulated PBX."""
    return {
        CONF_HOST: sim.host,
        CONF_PORT: sim.port,
        CONF_SSL: sim.scheme == "https",
        CONF_VERIFY_SSL: True,
        CONF_USERNAME: "admin",
        CONF_PASSWORD: PASSWORD,
        CONF_TENANT_DOMAIN: "default",
        **overrides,
    }


async def start_user_flow(hass: HomeAssistant) -> dict[str, Any]:
    """Open the user step and check it shows an empty form."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return dict(result)


async def submit(
    hass: HomeAssistant, flow_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Answer a step of a config flow."""
    return dict(await hass.config_entries.flow.async_configure(flow_id, data))


async def start_reconfigure_flow(
    hass: HomeAssistant, entry: ConfigEntry
) -> dict[str, Any]:
    """Open the reconfigure step of any entry (not only a MockConfigEntry)."""
    return dict(
        await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id},
        )
    )


@pytest.fixture
async def tls_simulator(
    hass: HomeAssistant, socket_enabled: None, tmp_path: Path
) -> AsyncIterator[RunningSimulator]:
    """The PBX behind HTTPS with a self-signed certificate."""
    cert, key = make_self_signed_cert(tmp_path)
    async with serve_over_tls(build_scenario(3, password=PASSWORD), cert, key) as sim:
        yield sim


@pytest.fixture
async def v4_simulator(socket_enabled: None) -> AsyncIterator[RunningSimulator]:
    """A 4.x PBX: X-authenticate and a serial number."""
    state = build_scenario(3, auth="v4", password=PASSWORD, serial=V4_SERIAL)
    async with run_simulator(state) as sim:
        yield sim


# ---------------------------------------------------------------- user step


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_v3_creates_entry_without_plaintext_password(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    """3.x: the host:port is the identity; only the md5 of the password is kept."""
    result = await start_user_flow(hass)
    result = await submit(hass, result["flow_id"], user_input(simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    unique_id = f"127.0.0.1:{simulator.port}"
    assert result["title"] == f"KalliopePBX {unique_id}"
    assert result["result"].unique_id == unique_id
    data = result["data"]
    assert data == {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: simulator.port,
        CONF_SSL: False,
        CONF_VERIFY_SSL: True,
        CONF_USERNAME: "admin",
        CONF_TENANT_DOMAIN: "default",
        CONF_AUTH: {
            "scheme": "v3",
            "username": "admin",
            "password_md5": md5_hex(PASSWORD),
        },
        CONF_PBX_ID: unique_id,
        "serial_number": None,
    }
    assert CONF_PASSWORD not in data
    assert PASSWORD not in json.dumps(data)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_v4_uses_serial_number_as_unique_id(
    hass: HomeAssistant, v4_simulator: RunningSimulator
) -> None:
    """4.x: detected by its salt; the serial number identifies the PBX."""
    state = v4_simulator.state
    result = await start_user_flow(hass)
    result = await submit(hass, result["flow_id"], user_input(v4_simulator))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == V4_SERIAL
    data = result["data"]
    assert data[CONF_PBX_ID] == V4_SERIAL
    assert data["serial_number"] == V4_SERIAL
    assert data[CONF_AUTH] == {
        "scheme": "v4",
        "username": "admin",
        "domain": "default",
        "salt": state.salt,
        "password_digest": digest_password(PASSWORD, state.salt),
    }
    assert CONF_PASSWORD not in data
    assert PASSWORD not in json.dumps(data)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_host_as_url_and_defaults(
    hass: HomeAssistant, simulator: RunningSimulator
) -> None:
    """`http://127.0.0.1:port/` in the host field: the port comes from the URL."""
    result = await start_user_flow(hass)
    data = user_input(simulator, **{CONF_HOST: f"http://127.0.0.1:{simulator.port}/"})
    del data[CONF_PORT]
    result = await submit(hass, result["flow_id"], data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == simulator.port
    assert result["data"][CONF_SSL] is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.5", ("10.0.0.5", None, False)),
        ("PBX.lan:8080", ("pbx.lan", 8080, False)),
        ("https://pbx.lan:8443/", ("pbx.lan", 8443, True)),
        ("[::1]:8080", ("::1", 8080, False)),
    ],
)
def test_parse_target(raw: str, expected: tuple[str, int | None, bool]) -> None:
    """The host field accepts a name, host:port or a URL."""
    target = parse_target({CONF_HOST: raw})
    assert (target.host, target.port, target.use_ssl) == expected


@pytest.mark.parametrize("raw", ["bad host", "http://", "pbx.lan:99999", "a/b", ""])
async def test_user_invalid_host(
    hass: HomeAssistant, raw: str, socket_enabled: None
) -> None:
    """Nonsense in the host field is an error on that field; nothing is sent."""
    result = await start_user_flow(hass)
    result = await submit(
        hass,
        result["flow_id"],
        {CONF_HOST: raw, CONF_PASSWORD: PASSWORD, CONF_SSL: False},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_HOST: "invalid_host"}


async def test_user_untrusted_certificate_then_without_verification(
    hass: HomeAssistant, tls_simulator: RunningSimulator, mock_setup_entry: AsyncMock
) -> None:
    """A self-signed certificate is an error on verify_ssl until that is turned off."""
    result = await start_user_flow(hass)
    result = await submit(hass, result["flow_id"], user_input(tls_simulator))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_VERIFY_SSL: "certificate_not_trusted"}

    result = await submit(
        hass, result["flow_id"], user_input(tls_simulator, **{CONF_VERIFY_SSL: False})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SSL] is True
    assert result["data"][CONF_VERIFY_SSL] is False


async def test_user_clock_skew_names_the_skew(
    hass: HomeAssistant, v4_simulator: RunningSimulator, mock_setup_entry: AsyncMock
) -> None:
    """4.x with a clock 10 minutes off: a base error with the skew in seconds."""
    v4_simulator.state.set_clock_offset(600)
    result = await start_user_flow(hass)
    result = await submit(hass, result["flow_id"], user_input(v4_simulator))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "clock_skew"}
    skew = int(result["description_placeholders"]["skew"])
    assert 590 <= skew <= 610

    v4_simulator.state.set_clock_offset(0)
    result = await submit(hass, result["flow_id"], user_input(v4_simulator))
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    "error", [Exception("boom"), KalliopeApiError(99, "odd", "GET /pbx/pending")]
)
async def test_user_unknown_error(
    hass: HomeAssistant, socket_enabled: None, error: Exception
) -> None:
    """Anything unexpected is `unknown`, never a crash of the flow."""
    result = await start_user_flow(hass)
    with patch(CONNECT, side_effect=error):
        result = await submit(
            hass,
            result["flow_id"],
            {CONF_HOST: "127.0.0.1", CONF_PASSWORD: PASSWORD, CONF_SSL: False},
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}


def reference_input(pbx: ReferencePbx, **overrides: Any) -> dict[str, Any]:
    """What a user types to add the reference-shaped PBX."""
    return {
        CONF_HOST: pbx.host,
        CONF_PORT: pbx.port,
        CONF_SSL: False,
        CONF_VERIFY_SSL: True,
        CONF_PASSWORD: REFERENCE_PASSWORD,
        **overrides,
    }


@dataclass(frozen=True)
class FlowError:
    """A PBX answer (or fault) and the error the form shows for it."""

    answers: dict[str, Canned] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    version: int = 3
    typed: dict[str, Any] = field(default_factory=dict)
    listening: bool = True


def salt_answer(answer: Canned, error: str) -> FlowError:
    return FlowError({"/salt/default": answer}, {"base": error}, version=4)


def pending_answer(answer: Canned, error: str) -> FlowError:
    return FlowError({"/pbx/pending": answer}, {"base": error})


FLOW_ERRORS = {
    "wrong-password-3x": FlowError(
        errors={CONF_PASSWORD: "invalid_auth"}, typed={CONF_PASSWORD: "nope"}
    ),
    "wrong-password-4x": FlowError(
        errors={CONF_PASSWORD: "invalid_auth"},
        typed={CONF_PASSWORD: "nope"},
        version=4,
    ),
    "nothing-listening": FlowError(errors={"base": "cannot_connect"}, listening=False),
    "licence-expired": pending_answer(
        Canned(load_fixture_bytes("request_not_allowed.xml")), "license_not_active"
    ),
    "login-page": pending_answer(
        Canned(b"<html><body>Login</body></html>", content_type="text/html"),
        "not_kalliope",
    ),
    "malformed": pending_answer(
        Canned(load_fixture_bytes("firmware_truncated.xml")), "not_kalliope"
    ),
    "not-a-flag": pending_answer(
        Canned(load_fixture_bytes("pending_not_a_flag.xml")), "not_kalliope"
    ),
    "empty": pending_answer(Canned(b""), "not_kalliope"),
    "http-500": pending_answer(
        Canned(b"Internal Server Error", status=500), "not_kalliope"
    ),
    "no-api": pending_answer(Canned(b"Not Found", status=404), "not_kalliope"),
    "salt-401": salt_answer(Canned(b"Unauthorized", status=401), "cannot_connect"),
    "salt-500": salt_answer(
        Canned(b"Internal Server Error", status=500), "cannot_connect"
    ),
    "salt-502": salt_answer(Canned(b"Bad Gateway", status=502), "cannot_connect"),
    "salt-garbage": salt_answer(Canned(b"<html><body>Login</body></html>"), "unknown"),
    "salt-json-without-salt": salt_answer(
        Canned(b'{"nosalt": 1}', content_type="application/json"), "unknown"
    ),
}


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("case", FLOW_ERRORS.values(), ids=FLOW_ERRORS.keys())
async def test_user_step_errors(
    hass: HomeAssistant, socket_enabled: None, case: FlowError
) -> None:
    """Each failure is a form error the user can act on, and the same flow
    then succeeds once the PBX answers as the reference shows.

    Only a 404 from the salt endpoint means 3.x: when the salt answer
    failed, the md5 of the password was not sent on a guess.
    """
    async with serve_reference_pbx(case.answers, version=case.version) as pbx:
        typed = reference_input(pbx, **case.typed)
        if not case.listening:
            typed[CONF_PORT] = free_port()
        result = await start_user_flow(hass)
        result = await submit(hass, result["flow_id"], typed)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == case.errors
        if "/salt/default" in case.answers:
            assert pbx.paths == ["/rest/salt/default"]
            assert not pbx.sent_basic_auth()

        pbx.answers.clear()
        result = await submit(hass, result["flow_id"], reference_input(pbx))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_AUTH]["scheme"] == f"v{case.version}"


async def test_user_salt_endpoint_missing_means_3x(
    hass: HomeAssistant, socket_enabled: None, mock_setup_entry: AsyncMock
) -> None:
    """A 404 from the salt endpoint is a 3.x PBX: HTTP Basic with the md5."""
    async with serve_reference_pbx() as pbx:
        result = await start_user_flow(hass)
        result = await submit(hass, result["flow_id"], reference_input(pbx))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_AUTH]["scheme"] == "v3"
    assert pbx.paths == ["/rest/salt/default", "/rest/pbx/pending"]
    assert pbx.sent_basic_auth()


def v4_entry(hass: HomeAssistant, pbx: ReferencePbx) -> MockConfigEntry:
    """A 4.x entry for the fake PBX, added to Home Assistant."""
    credentials = DigestCredentials.from_password(PASSWORD, "b5a8fdcf2f8d5acd")
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=V4_SERIAL,
        data={
            CONF_HOST: "127.0.0.1",
            CONF_PORT: pbx.port,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
            CONF_USERNAME: "admin",
            CONF_TENANT_DOMAIN: "default",
            CONF_AUTH: credentials.as_dict(),
            CONF_PBX_ID: V4_SERIAL,
            "serial_number": V4_SERIAL,
        },
    )
    entry.add_to_hass(hass)
    return entry


async def test_reauth_refuses_to_move_a_4x_entry_to_3x(
    hass: HomeAssistant, socket_enabled: None, mock_setup_entry: AsyncMock
) -> None:
    """The address now answers like 3.x: no Basic login, the entry is unchanged."""
    async with serve_reference_pbx() as pbx:
        entry = v4_entry(hass, pbx)
        stored = dict(entry.data)
        result = dict(await entry.start_reauth_flow(hass))
        result = await submit(hass, result["flow_id"], {CONF_PASSWORD: PASSWORD})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "auth_downgrade"}
    assert dict(entry.data) == stored
    assert pbx.paths == ["/rest/salt/default"]
    assert not pbx.sent_basic_auth()


async def test_reconfigure_refuses_to_move_a_4x_entry_to_3x(
    hass: HomeAssistant, socket_enabled: None, mock_setup_entry: AsyncMock
) -> None:
    """A new password on reconfigure does not turn a 4.x entry into a 3.x one."""
    async with serve_reference_pbx() as pbx:
        entry = v4_entry(hass, pbx)
        stored = dict(entry.data)
        result = await start_reconfigure_flow(hass, entry)
        result = await submit(hass, result["flow_id"], reference_input(pbx))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "auth_downgrade"}
    assert dict(entry.data) == stored
    assert not pbx.sent_basic_auth()


async def test_user_already_configured_by_address(
    hass: HomeAssistant, simulator: RunningSimulator, pbx_state: PbxState
) -> None:
    """The same host and port again aborts before talking to the PBX."""
    MockConfigEntry(
        domain=DOMAIN, unique_id="other", data=entry_data(simulator)
    ).add_to_hass(hass)
    pbx_state.reset_counters()
    result = await start_user_flow(hass)
    result = await submit(hass, result["flow_id"], user_input(simulator))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert sum(pbx_state.counters.values()) == 0


async def test_user_already_configured_by_serial(
    hass: HomeAssistant, v4_simulator: RunningSimulator
) -> None:
    """The same 4.x PBX under another address (its serial number) aborts."""
    MockConfigEntry(
        domain=DOMAIN,
        unique_id=V4_SERIAL,
        data={CONF_HOST: "pbx.example.lan", CONF_PORT: None},
    ).add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await submit(hass, result["flow_id"], user_input(v4_simulator))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# ---------------------------------------------------------------- reauth


@ADMIN_PASSWORD
async def test_reauth_updates_credentials_and_reloads(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """A changed admin password: a wrong one is refused, the right one reloads."""
    entry = init_integration
    pbx_state.set_password("n3w-Passw0rd")
    result = dict(await entry.start_reauth_flow(hass))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["title"] == entry.title

    result = await submit(hass, result["flow_id"], {CONF_PASSWORD: PASSWORD})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}

    with patch(CONNECT, side_effect=Exception("boom")):
        result = await submit(hass, result["flow_id"], {CONF_PASSWORD: "n3w-Passw0rd"})
    assert result["errors"] == {"base": "unknown"}

    result = await submit(hass, result["flow_id"], {CONF_PASSWORD: "n3w-Passw0rd"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_AUTH]["password_md5"] == md5_hex("n3w-Passw0rd")
    assert "n3w-Passw0rd" not in json.dumps(dict(entry.data))
    # Reloaded with the new credentials: it works again.
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.registrations.last_update_success


# ---------------------------------------------------------------- reconfigure


@ADMIN_PASSWORD
async def test_reconfigure_moves_the_pbx(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """The PBX moved to another port: errors first, then the entry follows it."""
    entry = init_integration
    async with run_simulator(pbx_state) as moved:
        result = dict(await entry.start_reconfigure_flow(hass))
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "reconfigure"

        new_address = {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: moved.port,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        }
        result = await submit(
            hass, result["flow_id"], {**new_address, CONF_HOST: "not a host"}
        )
        assert result["errors"] == {CONF_HOST: "invalid_host"}

        result = await submit(
            hass, result["flow_id"], {**new_address, CONF_PORT: free_port()}
        )
        assert result["errors"] == {"base": "cannot_connect"}

        result = await submit(
            hass, result["flow_id"], {**new_address, CONF_PASSWORD: "wrong"}
        )
        assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}

        with patch(CONNECT, side_effect=Exception("boom")):
            result = await submit(hass, result["flow_id"], new_address)
        assert result["errors"] == {"base": "unknown"}

        result = await submit(hass, result["flow_id"], new_address)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()

        assert entry.data[CONF_PORT] == moved.port
        assert entry.unique_id == f"127.0.0.1:{moved.port}"
        assert entry.title == f"KalliopePBX 127.0.0.1:{moved.port}"
        # Entities keep their identity: it comes from the stored PBX id.
        assert entry.data[CONF_PBX_ID] == PBX_ID
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.client.base_url.port == moved.port
        # Unload while the moved PBX is still there.
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_with_new_password(
    hass: HomeAssistant,
    simulator: RunningSimulator,
    pbx_state: PbxState,
    mock_setup_entry: AsyncMock,
) -> None:
    """A password given on reconfigure re-derives the credentials."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"127.0.0.1:{simulator.port}",
        data=entry_data(simulator),
    )
    entry.add_to_hass(hass)
    pbx_state.set_password("n3w-Passw0rd")
    result = dict(await entry.start_reconfigure_flow(hass))
    result = await submit(
        hass,
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: simulator.port,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
            CONF_PASSWORD: "n3w-Passw0rd",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_AUTH]["password_md5"] == md5_hex("n3w-Passw0rd")


async def test_reconfigure_to_another_configured_pbx(
    hass: HomeAssistant, simulator: RunningSimulator, mock_setup_entry: AsyncMock
) -> None:
    """Pointing an entry at the address of another entry aborts."""
    async with run_simulator(build_scenario(3, password=PASSWORD)) as other:
        first = MockConfigEntry(
            domain=DOMAIN,
            unique_id=f"127.0.0.1:{simulator.port}",
            data=entry_data(simulator, **{CONF_AUTH: {"password_md5": "x"}}),
        )
        first.add_to_hass(hass)
        MockConfigEntry(
            domain=DOMAIN,
            unique_id=f"127.0.0.1:{other.port}",
            data=entry_data(other),
        ).add_to_hass(hass)
        result = dict(await first.start_reconfigure_flow(hass))
        result = await submit(
            hass,
            result["flow_id"],
            {
                CONF_HOST: "127.0.0.1",
                CONF_PORT: other.port,
                CONF_SSL: False,
                CONF_VERIFY_SSL: True,
                CONF_PASSWORD: PASSWORD,
            },
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        assert first.data[CONF_PORT] == simulator.port


async def add_entry(hass: HomeAssistant, sim: RunningSimulator) -> ConfigEntry:
    """Add the simulated PBX through the user step."""
    result = await start_user_flow(hass)
    result = await submit(hass, result["flow_id"], user_input(sim))
    entry: ConfigEntry = result["result"]
    return entry


async def test_reauth_v4_refuses_a_different_pbx(
    hass: HomeAssistant, v4_simulator: RunningSimulator, mock_setup_entry: AsyncMock
) -> None:
    """Credentials from another unit at the same address are not stored."""
    entry = await add_entry(hass, v4_simulator)
    stored = dict(entry.data)
    v4_simulator.state.serial = "KPBX-4X-000099"
    v4_simulator.state.invalidate()
    result = dict(
        await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_REAUTH, "entry_id": entry.entry_id},
            data=entry.data,
        )
    )
    result = await submit(hass, result["flow_id"], {CONF_PASSWORD: PASSWORD})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_pbx"
    assert dict(entry.data) == stored


async def test_reconfigure_v4_to_a_different_pbx(
    hass: HomeAssistant, v4_simulator: RunningSimulator, mock_setup_entry: AsyncMock
) -> None:
    """A 4.x entry keeps its serial number: another unit is refused."""
    entry = await add_entry(hass, v4_simulator)
    other_state = build_scenario(
        3, auth="v4", password=PASSWORD, serial="KPBX-4X-000099"
    )
    async with run_simulator(other_state) as other:
        result = await start_reconfigure_flow(hass, entry)
        address = {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: other.port,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        }
        result = await submit(hass, result["flow_id"], address)
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_pbx"
        assert entry.data[CONF_PORT] == v4_simulator.port

        # The same unit at a new address is fine and keeps its identity.
        async with run_simulator(v4_simulator.state) as moved:
            result = await start_reconfigure_flow(hass, entry)
            result = await submit(
                hass, result["flow_id"], {**address, CONF_PORT: moved.port}
            )
            assert result["type"] is FlowResultType.ABORT
            assert result["reason"] == "reconfigure_successful"
            assert entry.unique_id == V4_SERIAL
            assert entry.data[CONF_PORT] == moved.port


# ---------------------------------------------------------------- options


@ADMIN_PASSWORD
async def test_options_validation_and_storage(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Invalid filter and pattern are errors on their fields; valid ones are stored."""
    entry = init_integration
    result = dict(await hass.config_entries.options.async_init(entry.entry_id))
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["settings", "live_events"]
    result = await open_options(hass, entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"

    result = dict(
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                CONF_EXTENSIONS: "205-201",
                CONF_VOICEMAIL_SENSORS: True,
                CONF_ALLOWED_NUMBERS: "0[1-9",
            },
        )
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {
        CONF_EXTENSIONS: "invalid_extension_filter",
        CONF_ALLOWED_NUMBERS: "invalid_allowed_numbers",
    }

    result = dict(
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                CONF_EXTENSIONS: " 201, 203-210 ",
                CONF_VOICEMAIL_SENSORS: True,
                CONF_ALLOWED_NUMBERS: "0[1-9][0-9]{5,9}",
            },
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_EXTENSIONS: "201, 203-210",
        CONF_VOICEMAIL_SENSORS: True,
        CONF_ALLOWED_NUMBERS: "0[1-9][0-9]{5,9}",
        CONF_VOICE_FORWARDING_WITHOUT_USER: False,
        CONF_BACKUPS_TO_KEEP: DEFAULT_BACKUPS_TO_KEEP,
    }
    # Reloaded with the filter: only those extensions are there.
    assert entry.state is ConfigEntryState.LOADED
    assert sorted(entry.runtime_data.extensions) == ["201", "203"]


@ADMIN_PASSWORD
async def test_options_keep_only_the_privacy_password_md5(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The CDR privacy password is stored as its md5; left empty, it is kept."""
    entry = init_integration
    answers = {CONF_VOICEMAIL_SENSORS: True}
    result = await open_options(hass, entry.entry_id)
    result = dict(
        await hass.config_entries.options.async_configure(
            result["flow_id"], {**answers, CONF_CDR_PRIVACY_PASSWORD: "s3gr3t0"}
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_CDR_PRIVACY_MD5] == md5_hex("s3gr3t0")
    assert "s3gr3t0" not in json.dumps(dict(entry.options))

    result = await open_options(hass, entry.entry_id)
    result = dict(
        await hass.config_entries.options.async_configure(result["flow_id"], answers)
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_CDR_PRIVACY_MD5] == md5_hex("s3gr3t0")


@pytest.mark.parametrize("scenario", [{"extensions": 12, "scenario": "demo"}])
async def test_options_voicemail_sensors_off_removes_them(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    pbx_state: PbxState,
) -> None:
    """Voicemail sensors off: after the reload they are gone and nothing is polled."""
    entry = init_integration
    assert hass.states.get("sensor.giulia_rossi_new_voicemails") is not None
    assert hass.states.get("sensor.kalliopepbx_office_new_voicemails") is not None

    result = await open_options(hass, entry.entry_id)
    result = dict(
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_VOICEMAIL_SENSORS: False}
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_VOICEMAIL_SENSORS] is False
    assert entry.state is ConfigEntryState.LOADED

    for entity_id in (
        "sensor.giulia_rossi_new_voicemails",
        "sensor.giulia_rossi_urgent_voicemails",
        "sensor.giulia_rossi_old_voicemails",
        "sensor.kalliopepbx_office_new_voicemails",
    ):
        assert hass.states.get(entity_id) is None, entity_id
        assert entity_registry.async_get(entity_id) is None, entity_id
    assert hass.states.get("binary_sensor.giulia_rossi_registered") is not None

    pbx_state.reset_counters()
    await entry.runtime_data.voicemail.async_refresh()
    assert not any(key.startswith("GET /voicemails") for key in pbx_state.counters)
