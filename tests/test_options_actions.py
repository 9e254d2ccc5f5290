"""Options that guard the actions: allowed numbers and the CDR privacy
password, on the reference-shaped PBX."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import (
    CONF_ALLOWED_NUMBERS,
    CONF_CDR_PRIVACY_MD5,
    CONF_CDR_PRIVACY_PASSWORD,
    CONF_EXTENSIONS,
    CONF_VOICEMAIL_SENSORS,
    DOMAIN,
)

from .conftest import md5_hex, open_options
from .reference_pbx import ReferencePbx

pytestmark = pytest.mark.usefixtures("reference_integration")


async def submit_options(
    hass: HomeAssistant, entry: MockConfigEntry, answers: dict[str, Any]
) -> dict[str, Any]:
    """Open the options, submit `answers`, return the result."""
    flow = await open_options(hass, entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {CONF_VOICEMAIL_SENSORS: True, **answers}
    )
    await hass.async_block_till_done()
    return dict(result)


async def test_allowed_numbers_pattern_is_checked(
    hass: HomeAssistant, reference_entry: MockConfigEntry
) -> None:
    """An invalid regular expression is refused on its field."""
    result = await submit_options(
        hass, reference_entry, {CONF_ALLOWED_NUMBERS: "0[1-9"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ALLOWED_NUMBERS: "invalid_allowed_numbers"}

    # Catastrophic backtracking: refused with its own reason, nothing stored.
    result = await submit_options(
        hass, reference_entry, {CONF_ALLOWED_NUMBERS: "(0*)*1"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ALLOWED_NUMBERS: "slow_allowed_numbers"}
    assert CONF_ALLOWED_NUMBERS not in reference_entry.options

    result = await submit_options(
        hass, reference_entry, {CONF_ALLOWED_NUMBERS: " 0[1-9][0-9]{5,9} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert reference_entry.options[CONF_ALLOWED_NUMBERS] == "0[1-9][0-9]{5,9}"


async def test_privacy_password_stored_as_md5_and_kept(
    hass: HomeAssistant, reference_entry: MockConfigEntry
) -> None:
    """Only the md5 is stored; leaving the field empty keeps it."""
    await submit_options(hass, reference_entry, {CONF_CDR_PRIVACY_PASSWORD: "privacy"})
    assert reference_entry.options[CONF_CDR_PRIVACY_MD5] == md5_hex("privacy")
    assert "privacy" not in reference_entry.options.values()

    await submit_options(hass, reference_entry, {CONF_EXTENSIONS: "201-202"})
    assert reference_entry.options[CONF_CDR_PRIVACY_MD5] == md5_hex("privacy")
    assert reference_entry.options[CONF_EXTENSIONS] == "201-202"


@pytest.mark.parametrize("entry_options", [{CONF_ALLOWED_NUMBERS: "0[1-9"}])
async def test_stored_pattern_that_no_longer_compiles_allows_nothing(
    hass: HomeAssistant,
) -> None:
    """The guard fails closed: external numbers are refused."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            "kalliopepbx",
            "click2call",
            {"extension": "201", "number": "0212345678"},
            blocking=True,
        )
    assert err.value.translation_key == "number_not_allowed"


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_EXTENSIONS: "201-202", CONF_ALLOWED_NUMBERS: "3[0-9]{9}"}],
)
async def test_extensions_without_a_device_are_still_extensions(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """An extension the Extensions option leaves out is no outside number."""
    assert hass.states.get("binary_sensor.giulia_bianchi_registered") is not None
    assert hass.states.get("binary_sensor.luca_verdi_registered") is None

    await hass.services.async_call(
        DOMAIN, "click2call", {"extension": "201", "number": "203"}, blocking=True
    )
    (placed,) = reference_pbx.seen("POST", "/click2call")
    assert b"<number_to_call>203</number_to_call>" in placed.body

    await hass.services.async_call(
        DOMAIN,
        "set_call_forwarding",
        {"extension": "202", "type": "forward_to_exten", "destination": "203"},
        blocking=True,
    )
    forwarded = reference_pbx.failover("202")
    assert (forwarded["type"], forwarded["value"]) == ("FORWARD_TO_EXTEN", "203")

    # 201 forwards already: a new target re-forwards it.
    await hass.services.async_call(
        "text",
        "set_value",
        {"entity_id": "text.mario_rossi_forwarding_target", "value": "203"},
        blocking=True,
    )
    forwarded = reference_pbx.failover("201")
    assert (forwarded["type"], forwarded["value"]) == ("FORWARD_TO_EXTEN", "203")

    # Outside numbers still have to match the pattern.
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "click2call",
            {"extension": "201", "number": "0212345678"},
            blocking=True,
        )
    assert err.value.translation_key == "number_not_allowed"
