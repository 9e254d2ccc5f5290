"""Diagnostics: what a bug report shows, and that no secret is in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import paths

from custom_components.kalliopepbx.api import DigestCredentials
from custom_components.kalliopepbx.const import CONF_AUTH, CONF_CDR_PRIVACY_MD5, DOMAIN
from simulator import PbxState, RunningSimulator, build_scenario, run_simulator

from .conftest import (
    PASSWORD,
    TITLE,
    digest_password,
    entry_data,
    load_fixture_bytes,
    md5_hex,
)

# The simulator listens on a new port every run.
VARIABLE = paths("entry.data.port")


def secrets_of(state: PbxState) -> set[str]:
    """Every secret the PBX or the stored credentials hold."""
    secrets = {
        PASSWORD,
        md5_hex(PASSWORD),
        state.salt,
        digest_password(PASSWORD, state.salt),
        state.privacy_password,
        md5_hex(state.privacy_password),
    }
    for ext in state.extensions.values():
        secrets.update(
            secret
            for secret in (ext.sip_secret, ext.gui_secret_md5, ext.vm_secret)
            if secret
        )
    return secrets


def assert_no_secret(diagnostics: dict[str, Any], state: PbxState) -> None:
    """No secret anywhere in the output, as text or as a JSON string value."""
    text = json.dumps(diagnostics)
    for secret in secrets_of(state):
        # Short ones (voicemail PINs, the simulator's privacy password, which
        # is also part of a key's name) are looked for as whole values.
        needle = f'"{secret}"' if len(secret) < 12 else secret
        assert needle not in text, f"secret {secret!r} in diagnostics"


@pytest.fixture
def entry_options(pbx_state: PbxState) -> dict[str, Any]:
    """Options holding a secret of their own: the CDR privacy password's md5."""
    return {CONF_CDR_PRIVACY_MD5: md5_hex(pbx_state.privacy_password)}


async def test_diagnostics_v3(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    simulator: RunningSimulator,
    pbx_state: PbxState,
    snapshot: SnapshotAssertion,
) -> None:
    """A 3.x PBX: the coordinators' state and the PBX's data, redacted."""
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    assert diagnostics["entry"]["data"]["port"] == simulator.port
    assert diagnostics["entry"]["data"][CONF_AUTH] == "**REDACTED**"
    assert diagnostics == snapshot(exclude=VARIABLE)
    assert_no_secret(diagnostics, pbx_state)


@pytest.fixture
async def v4_entry(
    hass: HomeAssistant, socket_enabled: None
) -> AsyncIterator[tuple[MockConfigEntry, PbxState]]:
    """A loaded entry of a 4.x PBX (salted digest credentials)."""
    state = build_scenario(3, auth="v4", serial="KPBX-4X-000042")
    async with run_simulator(state) as sim:
        credentials = DigestCredentials.from_password(PASSWORD, state.salt)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=TITLE,
            unique_id="KPBX-4X-000042",
            data=entry_data(
                sim,
                pbx_id="KPBX-4X-000042",
                serial_number="KPBX-4X-000042",
                **{CONF_AUTH: credentials.as_dict()},
            ),
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield entry, state
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics_v4_has_no_secret(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    v4_entry: tuple[MockConfigEntry, PbxState],
) -> None:
    """A 4.x PBX: neither the salt nor the digest nor the serial number."""
    entry, state = v4_entry
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["auth_scheme"] == "v4"
    assert_no_secret(diagnostics, state)
    assert "KPBX-4X-000042" not in json.dumps(diagnostics["entry"]["data"])


async def test_diagnostics_name_missing_endpoints(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
) -> None:
    """Endpoints the firmware lacks are listed."""
    pbx_state.disable_endpoint("/system/firmware/updatestatus")
    pbx_state.disable_endpoint("/voicemails/")
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    assert diagnostics["unsupported_endpoints"] == [
        "firmware_update_status",
        "voicemail_count",
    ]
    assert diagnostics["voicemail"]["polled_mailboxes"] == 0


async def test_diagnostics_have_no_personal_data(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    config_entry: MockConfigEntry,
    simulator: RunningSimulator,
    pbx_state: PbxState,
) -> None:
    """An extension with a phone, a name and forwarding to a mobile: none of it
    is in the dump, while what support needs is."""
    for path, fixture in (
        ("/users/registrations/", "registrations.xml"),
        ("/users/configs/", "users_configs_forwarding.xml"),
    ):
        pbx_state.add_fault(
            path,
            "answer",
            count=10**6,
            body=load_fixture_bytes(fixture),
            exact=True,
        )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    text = json.dumps(diagnostics)
    for personal in (
        simulator.host,  # the PBX's address
        "192.168.0.100",  # the phone's address
        "sip:201@",  # its SIP contact
        "Yealink",  # its user agent
        "Mario",
        "Rossi",
        "Giulia",
        "Verdi",  # a forwarding destination's name (extension 203's identity)
        "3351234567",  # the mobile number calls are forwarded to
        "mario.rossi@example.com",
    ):
        assert personal not in text, f"{personal!r} in diagnostics"
    # Still there: extension numbers, states, flags, counts and versions.
    assert diagnostics["extensions"]["201"]["failover"]["type"] == (
        "FORWARD_TO_EXTERNAL_NUMBER"
    )
    assert diagnostics["extensions"]["201"]["failover"]["destination"] == (
        "**REDACTED**"
    )
    assert diagnostics["extensions"]["201"]["vm_attach_enabled"] is True
    assert diagnostics["registrations"]["201"]["status"] == "ok"
    assert diagnostics["registrations"]["201"]["rtt_ms"] == 12
    assert diagnostics["firmware"]["primary"] == "3.9.6-2774"


@pytest.mark.usefixtures("init_integration")
async def test_diagnostics_errors_do_not_name_the_pbx_address(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    config_entry: MockConfigEntry,
    simulator: RunningSimulator,
    pbx_state: PbxState,
) -> None:
    """A PBX that redirects to HTTPS: the error is there, its address is not."""
    pbx_state.add_fault("/", "redirect", count=10**6)
    await config_entry.runtime_data.registrations.async_refresh()
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    error = diagnostics["coordinators"]["KalliopePBX Office registrations"][
        "last_exception"
    ]
    assert "redirects to https://**REDACTED**/rest/users/registrations/" in error
    assert simulator.host not in json.dumps(diagnostics)
