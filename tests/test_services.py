"""The actions, against the simulated PBX: the PBX's state shows their effect."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from homeassistant.auth.models import User
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import KalliopeApiError, md5_hex
from custom_components.kalliopepbx.const import (
    CONF_ALLOWED_NUMBERS,
    CONF_CDR_PRIVACY_MD5,
    DOMAIN,
)
from simulator import PbxState

from .conftest import PBX_ID, find_device

pytestmark = pytest.mark.usefixtures("init_integration")


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twelve extensions, nothing pending; 203 forwards outside via gateway 1."""
    return {"extensions": 12}


async def call(
    hass: HomeAssistant,
    service: str,
    data: dict[str, Any],
    *,
    context: Context | None = None,
    response: bool = False,
) -> Any:
    """Call one of our actions and wait for it."""
    return await hass.services.async_call(
        DOMAIN,
        service,
        data,
        blocking=True,
        context=context,
        return_response=response,
    )


def extension_device(hass: HomeAssistant, exten: str) -> str:
    """The device id of an extension."""
    device = find_device(hass, f"{PBX_ID}_{exten}")
    assert device is not None
    return device.id


# ---------------------------------------------------------------- click2call


async def test_click2call_from_device_places_the_call(
    hass: HomeAssistant, pbx_state: PbxState, hass_admin_user: User
) -> None:
    """The extension's phone rings, then the PBX dials the normalized number."""
    await call(
        hass,
        "click2call",
        {"device_id": extension_device(hass, "201"), "number": "+39 02-1234.567"},
        context=Context(user_id=hass_admin_user.id),
    )
    placed = pbx_state.placed_calls[-1]
    assert (placed.exten, placed.number, placed.type) == ("201", "+39021234567", "auto")


async def test_click2call_by_extension_number_and_type(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """A PBX and an extension number work as well as a device."""
    await call(
        hass,
        "click2call",
        {
            "config_entry_id": config_entry.entry_id,
            "extension": "202",
            "number": "205",
            "type": "exten",
        },
    )
    placed = pbx_state.placed_calls[-1]
    assert (placed.exten, placed.number, placed.type) == ("202", "205", "exten")


@pytest.mark.parametrize(
    "number", ["12a4", "+", "++391", "1" * 33, "3 + 4", "+39 (02) 12#x"]
)
async def test_click2call_rejects_invalid_numbers_before_sending(
    hass: HomeAssistant, pbx_state: PbxState, number: str
) -> None:
    """Nothing reaches the PBX when the number is not dialable."""
    pbx_state.reset_counters()
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "click2call", {"extension": "201", "number": number})
    assert err.value.translation_key == "invalid_number"
    assert pbx_state.counters["POST /click2call"] == 0
    assert pbx_state.placed_calls == []


@pytest.mark.parametrize(
    "entry_options", [{CONF_ALLOWED_NUMBERS: r"0[1-9][0-9]{5,9}|3[0-9]{8,9}"}]
)
async def test_click2call_allowed_numbers_guard(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Premium and international numbers are refused; extensions always pass."""
    for number in ("899123456", "+441234567890", "00441234567890"):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "click2call", {"extension": "201", "number": number})
        assert err.value.translation_key == "number_not_allowed"
    assert pbx_state.placed_calls == []
    await call(hass, "click2call", {"extension": "201", "number": "0212345678"})
    await call(hass, "click2call", {"extension": "201", "number": "202"})
    assert [c.number for c in pbx_state.placed_calls] == ["0212345678", "202"]


async def test_click2call_pbx_refusal_is_translated(
    hass: HomeAssistant, hass_admin_user: User
) -> None:
    """Error 10 (the calling phone is not registered) names the extension."""
    with pytest.raises(HomeAssistantError) as err:
        await call(
            hass,
            "click2call",
            {"extension": "204", "number": "0212345678"},
            context=Context(user_id=hass_admin_user.id),
        )
    assert err.value.translation_key == "click2call_failed"
    assert err.value.translation_placeholders["code"] == "10"
    assert err.value.translation_placeholders["extension"] == "204"


@pytest.mark.parametrize(
    ("code", "message"), [(11, "Missing extension tag"), (12, "Missing number")]
)
async def test_click2call_other_pbx_codes_are_translated(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_admin_user: User,
    code: int,
    message: str,
) -> None:
    """Codes 11 and 12 (the PBX found a tag missing) reach the user the same way."""
    client = config_entry.runtime_data.client
    with (
        patch.object(
            client,
            "click2call",
            side_effect=KalliopeApiError(code, message, "POST /click2call"),
        ),
        pytest.raises(HomeAssistantError) as err,
    ):
        await call(
            hass,
            "click2call",
            {"extension": "201", "number": "0212345678"},
            context=Context(user_id=hass_admin_user.id),
        )
    assert err.value.translation_key == "click2call_failed"
    assert err.value.translation_placeholders["code"] == str(code)
    assert err.value.translation_placeholders["message"] == message


async def test_click2call_connection_failure(
    hass: HomeAssistant, pbx_state: PbxState, hass_admin_user: User
) -> None:
    """A PBX that does not answer gives a translated connection error."""
    pbx_state.add_fault("/click2call", "reset", count=2)
    with pytest.raises(HomeAssistantError) as err:
        await call(
            hass,
            "click2call",
            {"extension": "201", "number": "0212345678"},
            context=Context(user_id=hass_admin_user.id),
        )
    assert err.value.translation_key == "cannot_connect"


# ---------------------------------------------------------------- targets


async def test_target_errors(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """Every wrong way to name an extension is refused before any request."""
    pbx_device = find_device(hass, PBX_ID)
    assert pbx_device is not None
    cases: list[tuple[dict[str, Any], str]] = [
        ({"number": "0212345678"}, "extension_required"),
        ({"extension": "299", "number": "1"}, "unknown_extension"),
        ({"device_id": pbx_device.id, "number": "1"}, "not_an_extension_device"),
        ({"device_id": "nope", "number": "1"}, "not_an_extension_device"),
        (
            {"config_entry_id": "nope", "extension": "201", "number": "1"},
            "entry_not_found",
        ),
    ]
    pbx_state.reset_counters()
    for data, key in cases:
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "click2call", data)
        assert err.value.translation_key == key, data
    assert sum(pbx_state.counters.values()) == 0


async def test_entry_required_with_two_pbxs_and_not_loaded(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """With two PBXs the action must say which; an unloaded one is refused."""
    other = MockConfigEntry(domain=DOMAIN, title="Other PBX", data={})
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "reload_pbx_engine", {})
    assert err.value.translation_key == "entry_required"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "reload_pbx_engine", {"config_entry_id": other.entry_id})
    assert err.value.translation_key == "entry_not_loaded"


# ---------------------------------------------------------------- forwarding


async def test_set_and_clear_call_forwarding(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Set applies on the PBX; clear restores exactly the failover from before."""
    before = pbx_state.get_failover("201")
    await call(
        hass,
        "set_call_forwarding",
        {"extension": "201", "destination": "+39 333 111 2223"},
    )
    after = pbx_state.get_failover("201")
    assert after is not None
    assert after["type"] == "FORWARD_TO_EXTERNAL_NUMBER"
    assert after["value"] == "+393331112223"
    # The outbound line 203 already forwards through.
    assert (after["gateway_type"], after["gateway_id"]) == ("GATEWAY", "1")
    assert pbx_state.pending is False
    assert hass.states.get("switch.stefano_villa_call_forwarding").state == STATE_ON
    sensor = hass.states.get("sensor.stefano_villa_forwarding")
    assert sensor.state == "forward_to_external_number"
    assert sensor.attributes["destination"] == "+393331112223"

    # A second set does not overwrite what clear will restore.
    await call(
        hass,
        "set_call_forwarding",
        {"extension": "201", "type": "forward_to_exten", "destination": "202"},
    )
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_EXTEN"

    await call(hass, "clear_call_forwarding", {"extension": "201"})
    assert pbx_state.get_failover("201") == before
    assert pbx_state.pending is False
    assert hass.states.get("switch.stefano_villa_call_forwarding").state == STATE_OFF


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "hangup"}, {"type": "HANGUP", "value": ""}),
        ({"type": "forward_to_voicemail"}, {"type": "FORWARD_TO_VOICEMAIL"}),
        (
            {
                "destination": "0612345678",
                "gateway_id": "2",
                "gateway_type": "trunk",
            },
            {"gateway_type": "TRUNK", "gateway_id": "2", "value": "0612345678"},
        ),
    ],
)
async def test_set_call_forwarding_types(
    hass: HomeAssistant,
    pbx_state: PbxState,
    data: dict[str, Any],
    expected: dict[str, str],
) -> None:
    """Hang up, own voicemail, and an explicit outbound line."""
    await call(hass, "set_call_forwarding", {"extension": "201", **data})
    failover = pbx_state.get_failover("201")
    assert failover is not None
    assert {key: failover[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"type": "forward_to_exten"}, "destination_required"),
        ({"type": "forward_to_exten", "destination": "201"}, "forward_to_itself"),
        ({"type": "forward_to_exten", "destination": "299"}, "unknown_extension"),
        ({"type": "forward_to_ivr", "destination": "menu"}, "invalid_destination"),
        ({"destination": "12ab"}, "invalid_number"),
    ],
)
async def test_set_call_forwarding_validation(
    hass: HomeAssistant, pbx_state: PbxState, data: dict[str, Any], key: str
) -> None:
    """Bad input is refused before anything is sent; nothing is saved."""
    before = pbx_state.get_failover("201")
    pbx_state.reset_counters()
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "set_call_forwarding", {"extension": "201", **data})
    assert err.value.translation_key == key
    assert pbx_state.get_failover("201") == before
    assert sum(pbx_state.counters.values()) == 0


@pytest.mark.parametrize("entry_options", [{CONF_ALLOWED_NUMBERS: r"0[1-9][0-9]{5,9}"}])
async def test_forwarding_obeys_allowed_numbers(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Forwarding to a premium number is the classic toll fraud: refused."""
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass, "set_call_forwarding", {"extension": "201", "destination": "899123"}
        )
    assert err.value.translation_key == "number_not_allowed"
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_VOICEMAIL"


async def test_gateway_required_when_nothing_forwards_outside(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """With no outbound line to borrow, the user must name one."""
    await call(hass, "set_call_forwarding", {"extension": "203", "type": "hangup"})
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "set_call_forwarding",
            {"extension": "201", "destination": "0612345678"},
        )
    assert err.value.translation_key == "gateway_required"


async def test_foreign_pending_changes_are_not_applied(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Someone else's unapplied change blocks ours: nothing is sent or applied."""
    pbx_state.set_pending(True)
    before = pbx_state.get_failover("201")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "set_call_forwarding", {"extension": "201", "type": "hangup"})
    assert err.value.translation_key == "changes_already_pending"
    assert pbx_state.get_failover("201") == before
    assert pbx_state.pending is True


async def test_apply_failure_is_reported_and_pending_visible(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """The change stays pending on the PBX, and the user sees it."""
    pbx_state.add_fault("/pbx/apply", "http500")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "set_call_forwarding", {"extension": "201", "type": "hangup"})
    assert err.value.translation_key == "apply_failed"
    assert pbx_state.pending is True
    assert pbx_state.get_failover("201")["type"] == "HANGUP"
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_pending_changes"
    ).state == (STATE_ON)


async def test_pbx_refusing_the_change_keeps_nothing_to_restore(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """A failover the PBX refuses leaves no saved state behind."""
    with pytest.raises(HomeAssistantError):
        await call(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_ivr", "destination": "999"},
        )
    forwarding = config_entry.runtime_data.forwarding
    assert forwarding.saved_failover("201") is None
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_VOICEMAIL"


async def test_clear_without_saved_state(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Forwarding set on the PBX itself is cleared to the extension's default."""
    await call(hass, "clear_call_forwarding", {"extension": "203"})
    assert pbx_state.get_failover("203")["type"] == "HANGUP"
    # Not forwarding: nothing to do, nothing sent.
    pbx_state.reset_counters()
    await call(hass, "clear_call_forwarding", {"extension": "201"})
    assert pbx_state.counters["PUT /users/configs/{exten}"] == 0
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_VOICEMAIL"


async def test_forwarding_restore_survives_a_restart(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """What clear restores is in storage, and a reloaded entry reads it back."""
    before = pbx_state.get_failover("201")
    await call(
        hass,
        "set_call_forwarding",
        {"extension": "201", "type": "forward_to_exten", "destination": "202"},
    )
    stored = hass_storage[f"{DOMAIN}.{config_entry.entry_id}.forwarding"]
    assert stored["data"]["previous"]["201"]["type"] == "FORWARD_TO_VOICEMAIL"

    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    await call(hass, "clear_call_forwarding", {"extension": "201"})
    assert pbx_state.get_failover("201") == before

    # Removing the PBX removes what it would have restored.
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.{config_entry.entry_id}.forwarding" not in hass_storage


# ---------------------------------------------------------------- admin


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("set_call_forwarding", {"extension": "201", "type": "hangup"}),
        ("clear_call_forwarding", {"extension": "203"}),
        ("reload_pbx_engine", {}),
        ("apply_changes", {}),
        ("revert_changes", {}),
    ],
)
async def test_admin_only_actions_refuse_other_users(
    hass: HomeAssistant,
    pbx_state: PbxState,
    hass_read_only_user: User,
    service: str,
    data: dict[str, Any],
) -> None:
    """A non-admin user is refused and the PBX is not touched."""
    pbx_state.reset_counters()
    with pytest.raises(Unauthorized):
        await call(hass, service, data, context=Context(user_id=hass_read_only_user.id))
    writes = {k: v for k, v in pbx_state.counters.items() if not k.startswith("GET")}
    assert writes == {}


async def test_get_call_records_is_admin_only(
    hass: HomeAssistant, hass_read_only_user: User
) -> None:
    """Call records are personal data: administrators only."""
    with pytest.raises(Unauthorized):
        await call(
            hass,
            "get_call_records",
            {},
            context=Context(user_id=hass_read_only_user.id),
            response=True,
        )


async def test_everyone_may_click2call_and_search(
    hass: HomeAssistant, pbx_state: PbxState, hass_read_only_user: User
) -> None:
    """Placing a call and looking up a number are for every user."""
    context = Context(user_id=hass_read_only_user.id)
    await call(
        hass, "click2call", {"extension": "201", "number": "202"}, context=context
    )
    result = await call(
        hass, "search_phonebook", {"query": "rossi"}, context=context, response=True
    )
    assert result["count"] > 0
    assert pbx_state.placed_calls[-1].number == "202"


# ---------------------------------------------------------------- engine


async def test_reload_apply_revert(
    hass: HomeAssistant, pbx_state: PbxState, hass_admin_user: User
) -> None:
    """The engine reloads; apply and revert clear what is pending."""
    admin = Context(user_id=hass_admin_user.id)
    await call(hass, "reload_pbx_engine", {}, context=admin)
    assert pbx_state.reload_count == 1

    pbx_state.save_extension(replace(pbx_state.extensions["201"], first_name="Renamed"))
    assert pbx_state.pending is True
    await call(hass, "revert_changes", {}, context=admin)
    assert pbx_state.pending is False
    assert pbx_state.extensions["201"].first_name == "Stefano"

    pbx_state.set_pending(True)
    await call(hass, "apply_changes", {}, context=admin)
    assert pbx_state.pending is False
    pending = hass.states.get("binary_sensor.kalliopepbx_office_pending_changes")
    assert pending.state == STATE_OFF


async def test_engine_command_refused(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """A PBX that answers `false` to a reload is reported."""
    client = config_entry.runtime_data.client
    with (
        patch.object(client, "reload_pbx_engine", return_value=False),
        pytest.raises(HomeAssistantError) as err,
    ):
        await call(hass, "reload_pbx_engine", {})
    assert err.value.translation_key == "command_failed"


# ---------------------------------------------------------------- phonebook


async def test_search_phonebook(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """Any-field and per-field searches, with and without `%` wildcards."""
    result = await call(hass, "search_phonebook", {"query": "rossi"}, response=True)
    names = {contact["name"] for contact in result["contacts"]}
    assert "Mario Rossi" in names
    mario = next(c for c in result["contacts"] if c["name"] == "Mario Rossi")
    assert mario["phone"] == "+390248512231"
    assert mario["type"] == "system"

    result = await call(
        hass,
        "search_phonebook",
        {"last_name": "Ross%", "first_name": "mario"},
        response=True,
    )
    assert [c["name"] for c in result["contacts"]] == ["Mario Rossi"]

    result = await call(
        hass, "search_phonebook", {"query": "%", "limit": 2}, response=True
    )
    assert len(result["contacts"]) == 2
    assert result["truncated"] is True
    assert result["count"] > 2


@pytest.mark.parametrize(
    ("data", "key"),
    [({"query": "a", "phone": "1"}, "query_or_fields"), ({}, "search_terms_required")],
)
async def test_search_phonebook_validation(
    hass: HomeAssistant, data: dict[str, Any], key: str
) -> None:
    """Either a query or per-field terms."""
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "search_phonebook", data, response=True)
    assert err.value.translation_key == key


# ---------------------------------------------------------------- CDR


async def test_get_call_records(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """Records of a period, filtered by direction and caller."""
    last = max(record.start for record in pbx_state.cdr)
    start = (last - timedelta(days=30)).replace(tzinfo=None)
    result = await call(
        hass,
        "get_call_records",
        {"start": start, "direction": "outbound", "caller": "203", "limit": 1000},
        response=True,
    )
    expected = [
        r
        for r in pbx_state.cdr
        if r.direction == 2
        and "203" in r.caller_num
        and r.start.replace(tzinfo=None) >= start
    ]
    assert result["count"] == len(expected) > 0
    assert all(r["direction"] == "outbound" for r in result["records"])
    assert {r["unique_id"] for r in result["records"]} == {
        r.unique_id for r in expected
    }
    first = result["records"][0]
    datetime.fromisoformat(first["start"])

    limited = await call(hass, "get_call_records", {"limit": 5}, response=True)
    assert len(limited["records"]) == 5
    assert limited["truncated"] is True

    # Without a start: calls that started in the last 7 days, not the PBX's
    # "this month so far".
    week_ago = dt_util.now().replace(tzinfo=None) - timedelta(days=7)
    recent = await call(hass, "get_call_records", {"limit": 1000}, response=True)
    assert recent["count"] == sum(
        1 for r in pbx_state.cdr if r.start.replace(tzinfo=None) >= week_ago
    )
    assert 0 < recent["count"] < len(pbx_state.cdr)


async def test_get_call_records_period_is_when_calls_started(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """A period holds the calls that started in it, not those that ended in it."""
    longest = max(pbx_state.cdr, key=lambda r: r.duration)
    started = longest.start.replace(tzinfo=None)
    result = await call(
        hass,
        "get_call_records",
        {
            "start": started - timedelta(seconds=1),
            "end": started + timedelta(seconds=1),
            "limit": 1000,
        },
        response=True,
    )
    assert longest.unique_id in {r["unique_id"] for r in result["records"]}
    # It ended long after: a period around its end does not hold it.
    ended = longest.end.replace(tzinfo=None)
    around_end = await call(
        hass,
        "get_call_records",
        {"start": ended - timedelta(seconds=1), "end": ended, "limit": 1000},
        response=True,
    )
    assert longest.unique_id not in {r["unique_id"] for r in around_end["records"]}


@pytest.mark.parametrize("status", ["cancelled", "unavailable", "forbidden"])
async def test_get_call_records_status_3x_never_reports(
    hass: HomeAssistant, pbx_state: PbxState, status: str
) -> None:
    """3.x has no code for these outcomes: refused, rather than nothing found."""
    pbx_state.reset_counters()
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_call_records", {"status": status}, response=True)
    assert err.value.translation_key == "call_records_filter_unsupported"
    assert err.value.translation_placeholders == {"filter": f"status: {status}"}
    assert pbx_state.counters["POST /cdr"] == 0


async def test_get_call_records_validation(hass: HomeAssistant) -> None:
    """A period that ends before it starts is refused."""
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "get_call_records",
            {"start": "2026-11-02 10:00:00", "end": "2026-11-01 10:00:00"},
            response=True,
        )
    assert err.value.translation_key == "end_before_start"


@pytest.mark.parametrize("entry_options", [{CONF_CDR_PRIVACY_MD5: md5_hex("wrong")}])
async def test_get_call_records_wrong_privacy_password(hass: HomeAssistant) -> None:
    """A wrong privacy password in the options is the PBX's error 3, translated."""
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "get_call_records", {}, response=True)
    assert err.value.translation_key == "pbx_error"
    assert err.value.translation_placeholders["code"] == "3"


@pytest.mark.parametrize("entry_options", [{CONF_CDR_PRIVACY_MD5: md5_hex("privacy")}])
async def test_get_call_records_privacy_password(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """The privacy password from the options opens the records."""
    assert pbx_state.privacy_password == "privacy"
    result = await call(hass, "get_call_records", {"status": "answered"}, response=True)
    assert result["count"] > 0
    assert all(r["status"] == "answered" for r in result["records"])
