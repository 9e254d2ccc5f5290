"""The actions against the reference-shaped PBX: what each sends, and what
the user sees of the reference's answers. Periods of call records against a
month of calls are in test_call_records.py (simulator)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web
from homeassistant.auth.models import User
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import (
    CONF_ALLOWED_NUMBERS,
    CONF_CDR_PRIVACY_MD5,
    DOMAIN,
)

from .conftest import PBX_ID, call_action, find_device, md5_hex
from .reference_pbx import ReferencePbx, fixture_bytes

pytestmark = pytest.mark.usefixtures("reference_integration")

PENDING = "binary_sensor.kalliopepbx_office_pending_changes"


def extension_device(hass: HomeAssistant, exten: str) -> str:
    """The device id of an extension."""
    device = find_device(hass, f"{PBX_ID}_{exten}")
    assert device is not None
    return device.id


def sent(pbx: ReferencePbx, method: str, path: str) -> list[ET.Element]:
    """The XML bodies sent with `method` to `path`."""
    return [
        ET.fromstring(r.body)  # noqa: S314 - our own requests
        for r in pbx.seen(method, path)
    ]


def placed_calls(pbx: ReferencePbx) -> list[tuple[str | None, ...]]:
    """(exten, number, type) of every click2call request."""
    return [
        (
            body.findtext("click2call/exten"),
            body.findtext("click2call/number_to_call"),
            body.findtext("click2call/type"),
        )
        for body in sent(pbx, "POST", "/click2call")
    ]


def click2call_error(code: int, message: str) -> bytes:
    """The reference's click2call answer with an error code."""
    return (
        fixture_bytes("click2call_ok.xml")
        .replace(b"<code>0</code>", f"<code>{code}</code>".encode())
        .replace(b"Success", message.encode())
    )


# ---------------------------------------------------------------- click2call


async def test_click2call_from_device_places_the_call(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_admin_user: User
) -> None:
    """The extension's phone rings, then the PBX dials the normalized number."""
    await call_action(
        hass,
        "click2call",
        {"device_id": extension_device(hass, "201"), "number": "+39 02-1234.567"},
        context=Context(user_id=hass_admin_user.id),
    )
    assert placed_calls(reference_pbx) == [("201", "+39021234567", "auto")]


async def test_click2call_by_extension_number_and_type(
    hass: HomeAssistant, reference_pbx: ReferencePbx, reference_entry: MockConfigEntry
) -> None:
    """A PBX and an extension number work as well as a device."""
    await call_action(
        hass,
        "click2call",
        {
            "config_entry_id": reference_entry.entry_id,
            "extension": "202",
            "number": "203",
            "type": "exten",
        },
    )
    assert placed_calls(reference_pbx) == [("202", "203", "exten")]


@pytest.mark.parametrize(
    "number", ["12a4", "+", "++391", "1" * 33, "3 + 4", "+39 (02) 12#x"]
)
async def test_click2call_rejects_invalid_numbers_before_sending(
    hass: HomeAssistant, reference_pbx: ReferencePbx, number: str
) -> None:
    """Nothing reaches the PBX when the number is not dialable."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "click2call", {"extension": "201", "number": number})
    assert err.value.translation_key == "invalid_number"
    assert placed_calls(reference_pbx) == []


@pytest.mark.parametrize(
    "entry_options", [{CONF_ALLOWED_NUMBERS: r"0[1-9][0-9]{5,9}|3[0-9]{8,9}"}]
)
async def test_click2call_allowed_numbers_guard(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Premium and international numbers are refused; extensions always pass."""
    for number in ("899123456", "+441234567890", "00441234567890"):
        with pytest.raises(ServiceValidationError) as err:
            await call_action(
                hass, "click2call", {"extension": "201", "number": number}
            )
        assert err.value.translation_key == "number_not_allowed"
    assert placed_calls(reference_pbx) == []
    await call_action(hass, "click2call", {"extension": "201", "number": "0212345678"})
    await call_action(hass, "click2call", {"extension": "201", "number": "202"})
    assert [number for _, number, _ in placed_calls(reference_pbx)] == [
        "0212345678",
        "202",
    ]


@pytest.mark.parametrize(
    ("code", "message"),
    [(10, "Error"), (11, "Missing extension tag"), (12, "Missing number")],
)
async def test_click2call_pbx_refusal_is_translated(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    hass_admin_user: User,
    code: int,
    message: str,
) -> None:
    """The PBX's error code and message reach the user, naming the extension."""
    reference_pbx.answer("/click2call", click2call_error(code, message))
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass,
            "click2call",
            {"extension": "202", "number": "0212345678"},
            context=Context(user_id=hass_admin_user.id),
        )
    assert err.value.translation_key == "click2call_failed"
    assert err.value.translation_placeholders["code"] == str(code)
    assert err.value.translation_placeholders["message"] == message
    assert err.value.translation_placeholders["extension"] == "202"


async def test_click2call_connection_failure(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_admin_user: User
) -> None:
    """A PBX that hangs up without answering gives a translated connection error."""

    async def hang_up(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    reference_pbx.handle("/click2call", hang_up)
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass,
            "click2call",
            {"extension": "201", "number": "0212345678"},
            context=Context(user_id=hass_admin_user.id),
        )
    assert err.value.translation_key == "cannot_connect"


# ---------------------------------------------------------------- targets


async def test_target_errors(hass: HomeAssistant, reference_pbx: ReferencePbx) -> None:
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
    before = len(reference_pbx.requests)
    for data, key in cases:
        with pytest.raises(ServiceValidationError) as err:
            await call_action(hass, "click2call", data)
        assert err.value.translation_key == key, data
    assert len(reference_pbx.requests) == before


async def test_entry_required_with_two_pbxs_and_not_loaded(hass: HomeAssistant) -> None:
    """With two PBXs the action must say which; an unloaded one is refused."""
    other = MockConfigEntry(domain=DOMAIN, title="Other PBX", data={})
    other.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "reload_pbx_engine", {})
    assert err.value.translation_key == "entry_required"
    with pytest.raises(ServiceValidationError) as err:
        await call_action(
            hass, "reload_pbx_engine", {"config_entry_id": other.entry_id}
        )
    assert err.value.translation_key == "entry_not_loaded"


# ---------------------------------------------------------------- forwarding
# 201 forwards to a mobile through gateway 1; 202 hangs up (not forwarding).


async def test_set_and_clear_call_forwarding(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Set applies on the PBX; clear restores exactly the failover from before."""
    before = reference_pbx.failover("202")
    await call_action(
        hass,
        "set_call_forwarding",
        {"extension": "202", "destination": "+39 333 111 2223"},
    )
    after = reference_pbx.failover("202")
    assert after["type"] == "FORWARD_TO_EXTERNAL_NUMBER"
    assert after["value"] == "+393331112223"
    # The outbound line 201 already forwards through.
    assert (after["gateway_type"], after["gateway_id"]) == ("GATEWAY", "1")
    assert reference_pbx.pending is False
    assert ("PUT", "/pbx/apply") in reference_pbx.writes()
    assert hass.states.get("switch.giulia_bianchi_call_forwarding").state == STATE_ON
    sensor = hass.states.get("sensor.giulia_bianchi_forwarding")
    assert sensor.state == "forward_to_external_number"
    assert sensor.attributes["destination"] == "+393331112223"

    # A second set does not overwrite what clear will restore.
    await call_action(
        hass,
        "set_call_forwarding",
        {"extension": "202", "type": "forward_to_exten", "destination": "203"},
    )
    assert reference_pbx.failover("202")["type"] == "FORWARD_TO_EXTEN"

    await call_action(hass, "clear_call_forwarding", {"extension": "202"})
    assert reference_pbx.failover("202") == before
    assert reference_pbx.pending is False
    assert hass.states.get("switch.giulia_bianchi_call_forwarding").state == STATE_OFF


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
    reference_pbx: ReferencePbx,
    data: dict[str, Any],
    expected: dict[str, str],
) -> None:
    """Hang up, own voicemail, and an explicit outbound line."""
    await call_action(hass, "set_call_forwarding", {"extension": "201", **data})
    held = reference_pbx.failover("201")
    assert {key: held[key] for key in expected} == expected


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
    hass: HomeAssistant, reference_pbx: ReferencePbx, data: dict[str, Any], key: str
) -> None:
    """Bad input is refused before anything is sent; nothing is saved."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "set_call_forwarding", {"extension": "201", **data})
    assert err.value.translation_key == key
    assert reference_pbx.writes() == []


@pytest.mark.parametrize("entry_options", [{CONF_ALLOWED_NUMBERS: r"0[1-9][0-9]{5,9}"}])
async def test_forwarding_obeys_allowed_numbers(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Forwarding to a premium number is the classic toll fraud: refused."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(
            hass, "set_call_forwarding", {"extension": "202", "destination": "899123"}
        )
    assert err.value.translation_key == "number_not_allowed"
    assert reference_pbx.failover("202")["type"] == "HANGUP"
    assert reference_pbx.writes() == []


async def test_gateway_required_when_nothing_forwards_outside(
    hass: HomeAssistant,
) -> None:
    """With no outbound line to borrow, the user must name one."""
    await call_action(
        hass, "set_call_forwarding", {"extension": "201", "type": "hangup"}
    )
    with pytest.raises(ServiceValidationError) as err:
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "202", "destination": "0612345678"},
        )
    assert err.value.translation_key == "gateway_required"


async def test_foreign_pending_changes_are_not_applied(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Someone else's unapplied change blocks ours: nothing is sent or applied."""
    reference_pbx.pending = True
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass, "set_call_forwarding", {"extension": "202", "type": "hangup"}
        )
    assert err.value.translation_key == "changes_already_pending"
    assert reference_pbx.writes() == []
    assert reference_pbx.pending is True


async def test_apply_refused_is_reported_and_pending_visible(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The PBX answers `false` and keeps the change pending: the user is told."""
    reference_pbx.answer(
        "/pbx/apply",
        '<?xml version="1.0"?>\n<kpbx_response>\n'
        "  <pbx_applied>false</pbx_applied>\n</kpbx_response>\n",
    )
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass, "set_call_forwarding", {"extension": "201", "type": "hangup"}
        )
    assert err.value.translation_key == "apply_refused"
    assert reference_pbx.pending is True


async def test_apply_failure_is_reported_and_pending_visible(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The change stays pending on the PBX, and the user sees it."""
    reference_pbx.answer("/pbx/apply", b"Internal Server Error", status=500)
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass, "set_call_forwarding", {"extension": "201", "type": "hangup"}
        )
    assert err.value.translation_key == "apply_failed"
    assert reference_pbx.pending is True
    assert reference_pbx.failover("201")["type"] == "HANGUP"
    assert hass.states.get(PENDING).state == STATE_ON


async def test_pbx_refusing_the_change_keeps_nothing_to_restore(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """A failover the PBX refuses (the reference's `User not saved`) is
    reported and leaves nothing for clear to restore."""
    reference_pbx.answer(
        "/users/configs/202",
        fixture_bytes("user_saved.xml")
        .replace(b"<code>0</code>", b"<code>14</code>")
        .replace(b"Success", b"User not saved"),
    )
    with pytest.raises(HomeAssistantError):
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "202", "type": "forward_to_ivr", "destination": "999"},
        )
    reference_pbx.restore("/users/configs/202")
    await call_action(hass, "clear_call_forwarding", {"extension": "202"})
    assert ("PUT", "/users/configs/202") not in reference_pbx.writes()
    assert reference_pbx.failover("202")["type"] == "HANGUP"


async def test_clear_without_saved_state(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Forwarding set on the PBX itself is cleared to the extension's default."""
    await call_action(hass, "clear_call_forwarding", {"extension": "201"})
    # 201 has a mailbox: unanswered calls go to it.
    assert reference_pbx.failover("201")["type"] == "FORWARD_TO_VOICEMAIL"
    # Not forwarding: nothing to do, nothing sent.
    await call_action(hass, "clear_call_forwarding", {"extension": "202"})
    assert ("PUT", "/users/configs/202") not in reference_pbx.writes()


async def test_forwarding_restore_survives_a_restart(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """What clear restores is in storage, and a reloaded entry reads it back."""
    before = reference_pbx.failover("202")
    await call_action(
        hass,
        "set_call_forwarding",
        {"extension": "202", "type": "forward_to_exten", "destination": "203"},
    )
    stored = hass_storage[f"{DOMAIN}.{reference_entry.entry_id}.forwarding"]
    assert stored["data"]["previous"]["202"]["type"] == "HANGUP"

    assert await hass.config_entries.async_reload(reference_entry.entry_id)
    await hass.async_block_till_done()
    await call_action(hass, "clear_call_forwarding", {"extension": "202"})
    assert reference_pbx.failover("202") == before

    # Removing the PBX removes what it would have restored.
    await hass.config_entries.async_remove(reference_entry.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.{reference_entry.entry_id}.forwarding" not in hass_storage


# ---------------------------------------------------------------- admin


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("set_call_forwarding", {"extension": "202", "type": "forward_to_exten"}),
        ("clear_call_forwarding", {"extension": "201"}),
        ("reload_pbx_engine", {}),
        ("apply_changes", {}),
        ("revert_changes", {}),
    ],
)
async def test_admin_only_actions_refuse_other_users(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    hass_read_only_user: User,
    service: str,
    data: dict[str, Any],
) -> None:
    """A non-admin user is refused and the PBX is not touched."""
    with pytest.raises(Unauthorized):
        await call_action(
            hass, service, data, context=Context(user_id=hass_read_only_user.id)
        )
    assert reference_pbx.writes() == []


async def test_get_call_records_is_admin_only(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_read_only_user: User
) -> None:
    """Call records are personal data: administrators only."""
    with pytest.raises(Unauthorized):
        await call_action(
            hass,
            "get_call_records",
            {},
            context=Context(user_id=hass_read_only_user.id),
            response=True,
        )
    assert reference_pbx.writes() == []


async def test_everyone_may_click2call_and_search(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_read_only_user: User
) -> None:
    """Placing a call and looking up a number are for every user."""
    context = Context(user_id=hass_read_only_user.id)
    await call_action(
        hass, "click2call", {"extension": "201", "number": "202"}, context=context
    )
    result = await call_action(
        hass, "search_phonebook", {"query": "esposito"}, context=context, response=True
    )
    assert result["count"] == 2
    assert placed_calls(reference_pbx) == [("201", "202", "auto")]


# ---------------------------------------------------------------- engine


async def test_reload_apply_revert(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_admin_user: User
) -> None:
    """The engine reloads; apply and revert clear what is pending."""
    admin = Context(user_id=hass_admin_user.id)
    await call_action(hass, "reload_pbx_engine", {}, context=admin)
    assert reference_pbx.writes() == [("PUT", "/system/pbxengine/reload")]

    for service in ("revert_changes", "apply_changes"):
        reference_pbx.pending = True
        await call_action(hass, service, {}, context=admin)
        assert reference_pbx.pending is False
        assert hass.states.get(PENDING).state == STATE_OFF
    assert reference_pbx.writes()[1:] == [
        ("PUT", "/pbx/revert"),
        ("PUT", "/pbx/apply"),
    ]


async def test_engine_command_refused(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """A PBX that answers `false` to a reload is reported."""
    reference_pbx.answer(
        "/system/pbxengine/reload",
        fixture_bytes("pbxengine_reloaded.xml").replace(b"true", b"false"),
    )
    with pytest.raises(HomeAssistantError) as err:
        await call_action(hass, "reload_pbx_engine", {})
    assert err.value.translation_key == "command_failed"


# ---------------------------------------------------------------- phonebook


async def test_search_phonebook(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The terms go to the PBX as the reference's filter; its contacts come
    back with their names, numbers and types."""
    result = await call_action(
        hass, "search_phonebook", {"query": "rossi"}, response=True
    )
    anna, caffe = result["contacts"]
    assert (anna["name"], anna["phone"], anna["type"]) == (
        "Anna Esposito",
        "+390212345678",
        "system",
    )
    assert anna["organization"] == "Rossi & Figli S.r.l."
    assert (caffe["phone"], caffe["type"]) == ("0612345678", "private")

    await call_action(
        hass,
        "search_phonebook",
        {"last_name": "Ross%", "first_name": "mario"},
        response=True,
    )
    limited = await call_action(
        hass, "search_phonebook", {"query": "%", "limit": 1}, response=True
    )
    assert len(limited["contacts"]) == 1
    assert limited["truncated"] is True
    assert limited["count"] == 2

    filters = [
        {child.tag: child.text for child in body.iterfind("filter/*")}
        for body in sent(reference_pbx, "POST", "/phonebook/search")
    ]
    assert filters == [
        {"any": "%rossi%"},
        {"first_name": "%mario%", "last_name": "Ross%"},
        {"any": "%"},
    ]


@pytest.mark.parametrize(
    ("data", "key"),
    [({"query": "a", "phone": "1"}, "query_or_fields"), ({}, "search_terms_required")],
)
async def test_search_phonebook_validation(
    hass: HomeAssistant, data: dict[str, Any], key: str
) -> None:
    """Either a query or per-field terms."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "search_phonebook", data, response=True)
    assert err.value.translation_key == key


# ---------------------------------------------------------------- CDR


async def test_get_call_records_from_the_reference_answer(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The reference's 3.x records: direction and status codes in words,
    the numbers as the PBX masked them."""
    result = await call_action(hass, "get_call_records", {"limit": 10}, response=True)
    outbound, missed = result["records"]
    assert (outbound["direction"], outbound["status"]) == ("outbound", "answered")
    assert outbound["unique_id"] == "1463997154.12"
    assert (missed["direction"], missed["status"]) == ("inbound", "no_answer")
    assert (missed["caller"], missed["called"]) == ("3351234XXX", "201")
    # The reference's `<unique_id/>` (a call from before the upgrade): no id.
    assert "unique_id" not in missed
    # The reference quotes called numbers (`"..."`): the user sees the number.
    assert outbound["called"] == "0212345XXX"
    (body,) = sent(reference_pbx, "POST", "/cdr")
    assert body.findtext("cdr/start_flag") == "true"
    assert body.find("cdr/privacy_password") is None


@pytest.mark.parametrize("status", ["cancelled", "unavailable", "forbidden"])
async def test_get_call_records_status_3x_never_reports(
    hass: HomeAssistant, reference_pbx: ReferencePbx, status: str
) -> None:
    """3.x has no code for these outcomes: refused, rather than nothing found."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "get_call_records", {"status": status}, response=True)
    assert err.value.translation_key == "call_records_filter_unsupported"
    assert err.value.translation_placeholders == {"filter": f"status: {status}"}
    assert reference_pbx.seen("POST", "/cdr") == []


async def test_get_call_records_validation(hass: HomeAssistant) -> None:
    """A period that ends before it starts is refused."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(
            hass,
            "get_call_records",
            {"start": "2026-11-02 10:00:00", "end": "2026-11-01 10:00:00"},
            response=True,
        )
    assert err.value.translation_key == "end_before_start"


@pytest.mark.parametrize("entry_options", [{CONF_CDR_PRIVACY_MD5: md5_hex("wrong")}])
async def test_get_call_records_wrong_privacy_password(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The md5 from the options is sent; the PBX's error 3 is translated."""
    reference_pbx.answer(
        "/cdr",
        "<kpbx_response><cdr><error_code><code>3</code>"
        "<message>Authentication error</message></error_code></cdr></kpbx_response>",
    )
    with pytest.raises(HomeAssistantError) as err:
        await call_action(hass, "get_call_records", {}, response=True)
    assert err.value.translation_key == "pbx_error"
    assert err.value.translation_placeholders["code"] == "3"
    (body,) = sent(reference_pbx, "POST", "/cdr")
    assert body.findtext("cdr/privacy_password") == md5_hex("wrong")
