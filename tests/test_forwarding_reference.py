"""Forwarding against failovers shaped as the API reference shows them:
what is read back after a change, the whole failover kept (announcement,
names) and the outbound line taken from the extension's own failover.

Extension 201 holds the failover of a fixture (an IVR menu with an
announcement, or an external number through a trunk); 202 forwards outside
through gateway 1, the line 201 borrows when it has none.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest

from .conftest import call_action, set_text, switch_to
from .reference_pbx import ReferencePbx

pytestmark = pytest.mark.usefixtures("reference_integration")

SWITCH = "switch.stefano_villa_call_forwarding"
TARGET = "text.stefano_villa_forwarding_target"
IVR = "user_config_failover_ivr.xml"
TRUNK = "user_config_failover_trunk.xml"


@pytest.fixture
def failover_fixture() -> str:
    """The fixture whose configuration 201 holds."""
    return IVR


@pytest.fixture(autouse=True)
def pbx_with_failovers(reference_pbx: ReferencePbx, failover_fixture: str) -> None:
    """201 from the fixture; 202 forwarding outside through gateway 1."""
    reference_pbx.load_config(failover_fixture)
    reference_pbx.set_failover(
        "202",
        type="FORWARD_TO_EXTERNAL_NUMBER",
        value="3351234567",
        gateway_type="GATEWAY",
        gateway_id="1",
        gateway_name="PRI Telecom",
    )


def puts(pbx: ReferencePbx) -> list[dict[str, str | None]]:
    """The failover fields of every PUT for 201, by their reference names."""
    written = []
    for request in pbx.seen("PUT", "/users/configs/201"):
        failover = ET.fromstring(request.body).find("user/failover")  # noqa: S314
        assert failover is not None
        fields: dict[str, str | None] = {
            "intro": failover.findtext("intro"),
            "type": failover.findtext("type"),
        }
        for tag in ("name", "value", "gateway_type", "gateway_id", "gateway_name"):
            fields[tag] = failover.findtext(f"destination/{tag}")
        written.append(fields)
    return written


# ---------------------------------------------------------------- read back


async def test_change_the_pbx_does_not_show_is_reported(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Write and apply accepted, old forwarding still answered: the user is told."""
    reference_pbx.keeps_writes = False
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "203"},
        )
    assert err.value.translation_key == "forwarding_not_applied"
    assert err.value.translation_placeholders == {
        "extension": "201",
        "expected": "To an extension 203",
        "actual": "To an IVR menu 1",
    }
    assert len(puts(reference_pbx)) == 1
    assert reference_pbx.pending is False


async def test_restore_the_pbx_does_not_show_is_reported(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Turning forwarding off is read back too."""
    await set_text(hass, TARGET, "203")
    await switch_to(hass, SWITCH, "turn_on")
    reference_pbx.keeps_writes = False
    with pytest.raises(HomeAssistantError) as err:
        await switch_to(hass, SWITCH, "turn_off")
    assert err.value.translation_key == "forwarding_not_applied"
    assert err.value.translation_placeholders == {
        "extension": "201",
        "expected": "To an IVR menu 1",
        "actual": "To an extension 203",
    }


@pytest.mark.parametrize("failover_fixture", [TRUNK])
async def test_change_not_shown_is_reported_in_italian(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Both forwardings in Home Assistant's language, the outbound line included."""
    await hass.config.async_update(language="it")
    reference_pbx.keeps_writes = False
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "203"},
        )
    assert err.value.translation_key == "forwarding_not_applied"
    assert err.value.translation_placeholders == {
        "extension": "201",
        "expected": "A un interno 203",
        "actual": "A un numero esterno 0612345678 (linea trunk 2)",
    }


async def test_type_of_a_newer_firmware_is_shown_as_the_pbx_names_it(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """A failover type without a translation is shown by its token."""
    await hass.config.async_update(language="it")
    reference_pbx.set_failover("201", type="FORWARD_TO_PARKING", value="7")
    reference_pbx.keeps_writes = False
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "203"},
        )
    assert err.value.translation_placeholders == {
        "extension": "201",
        "expected": "A un interno 203",
        "actual": "forward_to_parking 7",
    }


async def test_change_read_back_as_written_is_quiet(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """A PBX showing what was written raises nothing."""
    await call_action(
        hass,
        "set_call_forwarding",
        {"extension": "201", "type": "forward_to_exten", "destination": "203"},
    )
    assert reference_pbx.failover("201")["value"] == "203"


# ---------------------------------------------------------------- whole failover


async def test_forwarding_keeps_the_rest_of_the_failover(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """On and off change where calls go; the announcement and names stay."""
    await set_text(hass, TARGET, "+39 347 000 0001")
    await switch_to(hass, SWITCH, "turn_on")
    await switch_to(hass, SWITCH, "turn_off")
    assert puts(reference_pbx) == [
        {
            "intro": "fuori_orario",
            "type": "FORWARD_TO_EXTERNAL_NUMBER",
            "name": None,
            "value": "+393470000001",
            # 202's outbound line, named as 202's failover names it.
            "gateway_type": "GATEWAY",
            "gateway_id": "1",
            "gateway_name": "PRI Telecom",
        },
        {
            "intro": "fuori_orario",
            "type": "FORWARD_TO_IVR",
            "name": "Menu principale",
            "value": "1",
            "gateway_type": None,
            "gateway_id": None,
            "gateway_name": None,
        },
    ]


async def test_restore_keeps_an_announcement_changed_meanwhile(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The announcement is not forwarding: off keeps the one the PBX has now."""
    await set_text(hass, TARGET, "203")
    await switch_to(hass, SWITCH, "turn_on")
    reference_pbx.set_failover("201", intro="ferie_estive")
    await switch_to(hass, SWITCH, "turn_off")
    restored = puts(reference_pbx)[-1]
    assert (restored["intro"], restored["type"]) == ("ferie_estive", "FORWARD_TO_IVR")


# ---------------------------------------------------------------- outbound line


@pytest.mark.parametrize("failover_fixture", [TRUNK])
async def test_outbound_line_from_the_extensions_failover(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """A new number goes out through the line the extension forwards through."""
    await set_text(hass, TARGET, "+39 347 000 0001")
    assert puts(reference_pbx) == [
        {
            "intro": "benvenuto",
            "type": "FORWARD_TO_EXTERNAL_NUMBER",
            "name": None,
            "value": "+393470000001",
            "gateway_type": "TRUNK",
            "gateway_id": "2",
            "gateway_name": "VoIP Trunk Messagenet",
        }
    ]


@pytest.mark.parametrize("failover_fixture", [TRUNK])
async def test_action_on_the_same_outbound_line_keeps_its_name(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The action naming the line the extension uses now keeps the line's name."""
    await call_action(
        hass,
        "set_call_forwarding",
        {
            "extension": "201",
            "destination": "0698765432",
            "gateway_id": "2",
            "gateway_type": "trunk",
        },
    )
    (fields,) = puts(reference_pbx)
    assert (fields["intro"], fields["value"]) == ("benvenuto", "0698765432")
    assert (fields["gateway_type"], fields["gateway_id"], fields["gateway_name"]) == (
        "TRUNK",
        "2",
        "VoIP Trunk Messagenet",
    )


@pytest.mark.parametrize("failover_fixture", [TRUNK])
async def test_outbound_line_without_type_is_not_guessed(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """An id whose type the PBX does not give: a clear error, nothing written."""
    reference_pbx.set_failover("201", gateway_type="")
    with pytest.raises(ServiceValidationError) as err:
        await set_text(hass, TARGET, "+39 347 000 0001")
    assert err.value.translation_key == "gateway_type_unknown"
    assert err.value.translation_placeholders == {
        "extension": "201",
        "gateway_id": "2",
    }
    assert reference_pbx.writes() == []
