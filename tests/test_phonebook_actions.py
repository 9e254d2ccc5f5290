"""Adding, changing and removing phonebook contacts through the actions: on
the simulator (30 contacts; 3 is Giulia Bassi, +390116693021) and against
answers shaped like the reference's."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from unittest.mock import patch
import xml.etree.ElementTree as ET

from aiohttp import web
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.kalliopepbx.api import Contact
from simulator import PbxState

from .conftest import call_action, switch_to
from .lock_helpers import change_held_at_write, let_others_run
from .reference_pbx import ReferencePbx

pytestmark = pytest.mark.usefixtures("nothing_pending")

BASSI_PHONE = "+390116693021"
# The simulator's last contact: private to its first extension.
PRIVATE_ID = "30"
NEW_CONTACT = {
    "first_name": "Paolo",
    "last_name": "Neri",
    "phone": "+39 02 5550101",
    "organization": "Neri Impianti",
    "mail": "paolo@neri.example",
}
CONTACT_WRITES = (
    "POST /phonebook/contacts",
    "PUT /phonebook/contacts",
    "DELETE /phonebook/contacts/{contact_id}",
)


def contacts_of(pbx_state: PbxState) -> dict[int, dict[str, Any]]:
    """Every contact as the simulator holds it."""
    return {
        contact_id: dataclasses.asdict(contact)
        for contact_id, contact in pbx_state.contacts.items()
    }


def contact_writes(pbx_state: PbxState) -> list[str]:
    """The phonebook writes the simulator was sent since its counters were reset."""
    return [request for request in pbx_state.counters if request in CONTACT_WRITES]


# ---------------------------------------------------------------- simulator


@pytest.mark.usefixtures("init_integration")
async def test_add_contact_answers_with_its_id(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """The new contact is on the PBX; the answer is the id to change it by."""
    before = set(pbx_state.contacts)
    response = await call_action(hass, "add_contact", NEW_CONTACT, response=True)

    (new_id,) = set(pbx_state.contacts) - before
    assert response == {"id": str(new_id)}
    added = pbx_state.contacts[new_id]
    assert (added.first_name, added.last_name, added.phone, added.organization) == (
        "Paolo",
        "Neri",
        "+39 02 5550101",
        "Neri Impianti",
    )
    assert added.owner == "-1"
    assert pbx_state.pending is False

    # Without asking for the answer it is added all the same.
    await call_action(hass, "add_contact", {**NEW_CONTACT, "first_name": "Anna"})
    assert len(pbx_state.contacts) == len(before) + 2


@pytest.mark.usefixtures("init_integration")
async def test_private_contact_of_an_extension(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """An owner makes the contact that extension's own."""
    response = await call_action(
        hass, "add_contact", {**NEW_CONTACT, "owner": "202"}, response=True
    )
    assert pbx_state.contacts[int(response["id"])].owner == "202"


@pytest.mark.usefixtures("init_integration")
async def test_search_then_update_then_delete(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """A script's flow: the id search_phonebook returns changes and removes it."""
    found = await call_action(
        hass, "search_phonebook", {"last_name": "Bassi"}, response=True
    )
    (contact,) = found["contacts"]
    contact_id = contact["id"]
    before = contacts_of(pbx_state)

    await call_action(
        hass,
        "update_contact",
        {"id": contact_id, "phone": "+39 011 6693099", "organizational_unit": "Bar"},
    )
    after = contacts_of(pbx_state)
    changed = int(contact_id)
    # Only the fields given changed; every other contact is as it was.
    assert after[changed] == {
        **before[changed],
        "phone": "+39 011 6693099",
        "organizational_unit": "Bar",
    }
    assert {k: v for k, v in after.items() if k != changed} == {
        k: v for k, v in before.items() if k != changed
    }

    await call_action(hass, "delete_contact", {"id": contact_id})
    assert changed not in pbx_state.contacts
    assert len(pbx_state.contacts) == len(before) - 1
    found = await call_action(
        hass, "search_phonebook", {"last_name": "Bassi"}, response=True
    )
    assert found["count"] == 0


@pytest.mark.parametrize(
    ("action", "data", "key", "placeholders"),
    [
        ("add_contact", {**NEW_CONTACT, "phone": "not a number"}, "invalid_contact", {"field": "phone"}),
        ("add_contact", {**NEW_CONTACT, "phone": "+39 " + "1" * 33}, "invalid_contact", {"field": "phone"}),
        ("add_contact", {"first_name": "Paolo", "phone": "021234"}, "invalid_contact", {"field": "last_name"}),
        ("add_contact", {}, "invalid_contact", {"field": "first_name"}),
        ("add_contact", {**NEW_CONTACT, "first_name": "   "}, "invalid_contact", {"field": "first_name"}),
        ("add_contact", {**NEW_CONTACT, "mail": "a\x01b"}, "invalid_contact", {"field": "mail"}),
        ("add_contact", {**NEW_CONTACT, "owner": "reception"}, "invalid_contact", {"field": "owner"}),
        ("add_contact", {**NEW_CONTACT, "owner": "299"}, "unknown_contact_owner", {"owner": "299"}),
        ("update_contact", {"id": "3"}, "contact_fields_required", None),
        ("update_contact", {"id": "3", "last_name": ""}, "invalid_contact", {"field": "last_name"}),
        ("update_contact", {"id": "3", "phone": "abc"}, "invalid_contact", {"field": "phone"}),
        ("update_contact", {"id": "999", "phone": "021234"}, "unknown_contact", {"id": "999"}),
        ("delete_contact", {"id": "999"}, "unknown_contact", {"id": "999"}),
        ("delete_contact", {"id": "x1"}, "unknown_contact", {"id": "x1"}),
        ("update_contact", {"id": PRIVATE_ID, "phone": "021234"}, "private_contact", {"id": PRIVATE_ID}),
        ("delete_contact", {"id": PRIVATE_ID}, "private_contact", {"id": PRIVATE_ID}),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("init_integration")
async def test_refused_before_anything_is_sent(
    hass: HomeAssistant,
    pbx_state: PbxState,
    action: str,
    data: dict[str, Any],
    key: str,
    placeholders: dict[str, str] | None,
) -> None:
    """A translated error naming what is wrong; the phonebook is untouched."""
    before = contacts_of(pbx_state)
    pbx_state.reset_counters()
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, action, data)
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == placeholders
    assert contact_writes(pbx_state) == []
    assert "PUT /pbx/apply" not in pbx_state.counters
    assert contacts_of(pbx_state) == before


@pytest.mark.usefixtures("init_integration")
async def test_private_contact_added_then_found_but_not_changed(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """A contact added with an owner shows as private in the search, and
    update and delete refuse it by name instead of the PBX's error 17."""
    response = await call_action(
        hass, "add_contact", {**NEW_CONTACT, "owner": "202"}, response=True
    )
    found = await call_action(
        hass, "search_phonebook", {"organization": "Neri Impianti"}, response=True
    )
    (contact,) = found["contacts"]
    assert (contact["id"], contact["type"]) == (response["id"], "private")
    before = contacts_of(pbx_state)
    pbx_state.reset_counters()

    for action, data in (
        ("update_contact", {"id": response["id"], "phone": "+39 011 6693099"}),
        ("delete_contact", {"id": response["id"]}),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await call_action(hass, action, data)
        assert err.value.translation_key == "private_contact"
        assert err.value.translation_placeholders == {"id": response["id"]}
    assert contact_writes(pbx_state) == []
    assert contacts_of(pbx_state) == before


@pytest.mark.usefixtures("init_integration")
async def test_owner_is_not_changed_by_an_update(hass: HomeAssistant) -> None:
    """The reference's PUT has no owner: the action does not offer it."""
    # Worded "extra keys not allowed" or "not a valid option", by release.
    with pytest.raises(vol.Invalid, match="owner"):
        await call_action(hass, "update_contact", {"id": "3", "owner": "202"})


@pytest.mark.usefixtures("init_integration")
async def test_administrators_only(
    hass: HomeAssistant, pbx_state: PbxState, hass_read_only_user: User
) -> None:
    """Users who are not administrators change nothing."""
    context = Context(user_id=hass_read_only_user.id)
    before = contacts_of(pbx_state)
    pbx_state.reset_counters()
    for action, data in (
        ("add_contact", NEW_CONTACT),
        ("update_contact", {"id": "3", "phone": "021234"}),
        ("delete_contact", {"id": "3"}),
    ):
        with pytest.raises(Unauthorized):
            await hass.services.async_call(
                "kalliopepbx", action, data, blocking=True, context=context
            )
    assert contact_writes(pbx_state) == []
    assert contacts_of(pbx_state) == before


@pytest.mark.usefixtures("init_integration")
async def test_refused_over_foreign_pending_changes(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Applying would also apply someone else's changes: nothing is written."""
    pbx_state.set_pending(True)
    before = contacts_of(pbx_state)
    pbx_state.reset_counters()
    for action, data in (
        ("add_contact", NEW_CONTACT),
        ("update_contact", {"id": "3", "phone": "021234"}),
        ("delete_contact", {"id": "3"}),
    ):
        with pytest.raises(HomeAssistantError) as err:
            await call_action(hass, action, data)
        assert err.value.translation_key == "changes_already_pending"
    assert contact_writes(pbx_state) == []
    assert contacts_of(pbx_state) == before


async def test_caller_names_looked_up_again_after_a_change(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A number named before the change is asked about again after it."""
    names = init_integration.runtime_data.live.names
    assert await names.lookup(BASSI_PHONE) == "Giulia Bassi"
    assert names.name_of(BASSI_PHONE) == "Giulia Bassi"
    assert not names.needs_lookup(BASSI_PHONE)

    await call_action(hass, "update_contact", {"id": "3", "last_name": "Bassi Neri"})

    assert names.needs_lookup(BASSI_PHONE)
    assert await names.lookup(BASSI_PHONE) == "Giulia Bassi Neri"

    await call_action(hass, "delete_contact", {"id": "3"})
    assert names.needs_lookup(BASSI_PHONE)
    assert await names.lookup(BASSI_PHONE) is None


async def test_lookup_during_a_change_is_not_kept(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An answer asked for before the change and got after it is not cached."""
    runtime = init_integration.runtime_data
    names = runtime.live.names
    asked = asyncio.Event()
    release = asyncio.Event()
    real_search = runtime.client.search_phonebook

    async def slow_search(*args: Any, **kwargs: Any) -> list[Contact]:
        found = await real_search(*args, **kwargs)
        asked.set()
        await release.wait()
        return found

    with patch.object(runtime.client, "search_phonebook", slow_search):
        lookup = hass.async_create_task(names.lookup(BASSI_PHONE))
        await asked.wait()
    await call_action(hass, "update_contact", {"id": "3", "last_name": "Bassi Neri"})
    release.set()
    assert await lookup == "Giulia Bassi"
    assert names.needs_lookup(BASSI_PHONE)


async def test_contact_change_waits_for_a_change_in_progress(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Added after a voicemail change in progress is applied, never in between."""
    client = init_integration.runtime_data.client
    async with change_held_at_write(
        hass,
        client,
        lambda: switch_to(hass, "switch.giulia_rossi_voicemail", "turn_off"),
        write="update_user_config",
        record=("add_contact", "apply"),
    ) as held:
        contact = hass.async_create_task(
            call_action(hass, "add_contact", NEW_CONTACT, response=True)
        )
        await let_others_run()
        assert held.order == ["update_user_config"]
        (response,) = await held.finish(contact)
    assert held.order == ["update_user_config", "apply", "add_contact", "apply"]
    assert pbx_state.contacts[int(response["id"])].last_name == "Neri"
    assert pbx_state.extensions["202"].vm_enabled is False


async def test_contact_removed_in_between(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The PBX's "contact not found" to the write is the same translated error."""
    client = init_integration.runtime_data.client
    gone = Contact(id="999", first_name="Old", last_name="Contact", phone="0212")
    with (
        patch.object(client, "phonebook_contact", return_value=gone),
        pytest.raises(ServiceValidationError) as err,
    ):
        await call_action(hass, "delete_contact", {"id": "999"})
    assert err.value.translation_key == "unknown_contact"


# ---------------------------------------------------------------- reference

SAVED = (
    "<?xml version='1.0'?><kpbx_response><contact><error><code>0</code>"
    "<message>Success</message></error></contact></kpbx_response>"
)
ONE_CONTACT = """<?xml version="1.0"?>
<kpbx_response>
<contacts>
  <contact>
    <id>7</id>
    <first_name>Anna</first_name>
    <last_name>Esposito</last_name>
    <organization>Rossi &amp; Figli S.r.l.</organization>
    <organizational_unit>Acquisti</organizational_unit>
    <type>system</type>
    <phone>+390212345678</phone>
    <mail>anna@rossiefigli.it</mail>
    <speed_dial>12</speed_dial>
  </contact>
</contacts>
</kpbx_response>
"""


@pytest.mark.usefixtures("reference_integration")
async def test_reference_update_sends_the_whole_contact(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The PUT carries every field (a mandatory one missing is error 12)."""
    reference_pbx.answer("/phonebook/contacts/7", ONE_CONTACT)
    reference_pbx.answer("/phonebook/contacts", SAVED)

    await call_action(hass, "update_contact", {"id": "7", "phone": "+39 02 999"})

    (put,) = reference_pbx.seen("PUT", "/phonebook/contacts")
    contact = ET.fromstring(put.body).find("contact")  # noqa: S314 - our request
    assert contact is not None
    assert {child.tag: child.text for child in contact} == {
        "id": "7",
        "first_name": "Anna",
        "last_name": "Esposito",
        "organization": "Rossi & Figli S.r.l.",
        "organizational_unit": "Acquisti",
        "phone": "+39 02 999",
        "mail": "anna@rossiefigli.it",
        "speed_dial": "12",
    }
    assert ("PUT", "/pbx/apply") in reference_pbx.writes()


@pytest.mark.usefixtures("reference_integration")
async def test_reference_add_without_an_id_in_the_answer(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The reference's answer names no id; one the search does not find is null."""
    reference_pbx.answer("/phonebook/contacts", SAVED)

    response = await call_action(hass, "add_contact", NEW_CONTACT, response=True)

    assert response == {"id": None}
    (post,) = reference_pbx.seen("POST", "/phonebook/contacts")
    contact = ET.fromstring(post.body).find("contact")  # noqa: S314 - our request
    assert contact is not None
    assert [child.tag for child in contact] == [
        "first_name",
        "last_name",
        "organization",
        "phone",
        "mail",
    ]


@pytest.mark.usefixtures("reference_integration")
async def test_reference_contact_not_found(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """An id the PBX has no contact for: refused, nothing written."""
    reference_pbx.answer(
        "/phonebook/contacts/41",
        "<kpbx_response><contacts></contacts></kpbx_response>",
    )
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "delete_contact", {"id": "41"})
    assert err.value.translation_key == "unknown_contact"
    assert reference_pbx.writes() == []


PRIVATE_CONTACT = """<?xml version="1.0"?>
<kpbx_response>
<contacts>
  <contact>
    <id>8</id>
    <first_name/>
    <last_name/>
    <organization>Caffè Città</organization>
    <organizational_unit/>
    <type>private</type>
    <phone>0612345678</phone>
    <mail/>
    <speed_dial/>
  </contact>
</contacts>
</kpbx_response>
"""


def contact_error(code: int, message: str) -> str:
    """The reference's answer to a refused contact write."""
    return (
        '<?xml version="1.0"?>\n<kpbx_response>\n  <contact>\n    <error>\n'
        f"      <code>{code}</code>\n      <message>{message}</message>\n"
        "    </error>\n  </contact>\n</kpbx_response>\n"
    )


NOT_FOR_ADMIN = contact_error(17, "Admin can not handle private contact")


def by_method(**answers: str) -> Any:
    """One path answered differently by method (GET and DELETE share it)."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=answers[request.method], content_type="text/xml")

    return answer


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("update_contact", {"id": "8", "phone": "+39 06 999"}),
        ("delete_contact", {"id": "8"}),
    ],
)
@pytest.mark.usefixtures("reference_integration")
async def test_reference_private_contact_refused(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    action: str,
    data: dict[str, str],
) -> None:
    """A contact the PBX reads as private: refused by id, nothing written or
    applied."""
    reference_pbx.answer("/phonebook/contacts/8", PRIVATE_CONTACT)
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, action, data)
    assert err.value.translation_key == "private_contact"
    assert err.value.translation_placeholders == {"id": "8"}
    assert reference_pbx.seen("GET", "/phonebook/contacts/8")
    assert reference_pbx.writes() == []


@pytest.mark.parametrize(
    ("action", "data", "write"),
    [
        (
            "update_contact",
            {"id": "7", "phone": "+39 02 999"},
            ("PUT", "/phonebook/contacts"),
        ),
        ("delete_contact", {"id": "7"}, ("DELETE", "/phonebook/contacts/7")),
    ],
)
@pytest.mark.usefixtures("reference_integration")
async def test_reference_error_17_is_the_private_contact_message(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    action: str,
    data: dict[str, str],
    write: tuple[str, str],
) -> None:
    """Read as a system contact, refused as a private one by the write (made
    private in between): the same message, and nothing applied."""
    reference_pbx.handle(
        "/phonebook/contacts/7", by_method(GET=ONE_CONTACT, DELETE=NOT_FOR_ADMIN)
    )
    reference_pbx.answer("/phonebook/contacts", NOT_FOR_ADMIN)
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, action, data)
    assert err.value.translation_key == "private_contact"
    assert err.value.translation_placeholders == {"id": "7"}
    assert reference_pbx.writes() == [write]


@pytest.mark.usefixtures("reference_integration")
async def test_reference_error_11_is_the_owner_message(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The PBX refusing an extension as owner: named, not a generic PBX error."""
    reference_pbx.answer(
        "/phonebook/contacts", contact_error(11, "Invalid owner for user")
    )
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "add_contact", {**NEW_CONTACT, "owner": "201"})
    assert err.value.translation_key == "contact_owner_refused"
    assert err.value.translation_placeholders == {"owner": "201"}
    assert ("PUT", "/pbx/apply") not in reference_pbx.writes()


@pytest.mark.parametrize(("owner", "sent"), [("201", "201"), (" -1 ", "-1")])
@pytest.mark.usefixtures("reference_integration")
async def test_reference_owner_sent(
    hass: HomeAssistant, reference_pbx: ReferencePbx, owner: str, sent: str
) -> None:
    """An extension of the PBX (a private contact) or -1 (a system one)."""
    reference_pbx.answer("/phonebook/contacts", SAVED)
    await call_action(hass, "add_contact", {**NEW_CONTACT, "owner": owner})
    (post,) = reference_pbx.seen("POST", "/phonebook/contacts")
    contact = ET.fromstring(post.body).find("contact")  # noqa: S314 - our request
    assert contact is not None
    assert contact.findtext("owner") == sent
    assert ("PUT", "/pbx/apply") in reference_pbx.writes()


@pytest.mark.usefixtures("reference_integration")
async def test_reference_owner_not_an_extension(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """An owner the PBX has no extension for: refused before any request."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "add_contact", {**NEW_CONTACT, "owner": "204"})
    assert err.value.translation_key == "unknown_contact_owner"
    assert err.value.translation_placeholders == {"owner": "204"}
    assert reference_pbx.writes() == []
