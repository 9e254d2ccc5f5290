"""The unapplied-change repair issue names the change in the user's language.

Against the reference-shaped PBX: its apply answers a 500, so the change
written stays pending and the issue names it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import DOMAIN

from .conftest import PBX_ID, call_action, switch_to
from .reference_pbx import ReferencePbx

type Change = Callable[[HomeAssistant], Awaitable[None]]


def entity_id_of(hass: HomeAssistant, unique_id: str) -> str:
    """An entity by unique id: in Italian its entity id is Italian too."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "switch", DOMAIN, f"{PBX_ID}_{unique_id}"
    )
    assert entity_id is not None
    return entity_id


async def _callgroup_member_out(hass: HomeAssistant) -> None:
    await switch_to(hass, entity_id_of(hass, "202_callgroup_incoming"), "turn_off")


async def _callgroup_members_set(hass: HomeAssistant) -> None:
    await call_action(
        hass,
        "set_callgroup_members",
        {"callgroup": "Incoming", "priorities": [["203"], ["201"]]},
    )


async def _voicemail_off(hass: HomeAssistant) -> None:
    await switch_to(hass, entity_id_of(hass, "203_vm_enabled"), "turn_off")


async def _forwarding_to_hangup(hass: HomeAssistant) -> None:
    await call_action(
        hass, "set_call_forwarding", {"extension": "201", "type": "hangup"}
    )


async def _forwarding_outside(hass: HomeAssistant) -> None:
    await call_action(
        hass,
        "set_call_forwarding",
        {
            "extension": "201",
            "destination": "0612345678",
            "gateway_type": "trunk",
            "gateway_id": "2",
        },
    )


CHANGES = {
    "callgroup_out": (
        _callgroup_member_out,
        "interno 202 tolto dal gruppo di chiamata Incoming",
        "extension 202 taken out of call group Incoming",
    ),
    "callgroup_members": (
        _callgroup_members_set,
        "membri del gruppo di chiamata Incoming impostati su 203 | 201",
        "members of call group Incoming set to 203 | 201",
    ),
    "voicemail_off": (
        _voicemail_off,
        "segreteria telefonica dell'interno 203 disattivata",
        "voicemail of extension 203 turned off",
    ),
    "forwarding": (
        _forwarding_to_hangup,
        "inoltro dell'interno 201: Riaggancia",
        "forwarding of extension 201: Hang up",
    ),
    "forwarding_outside": (
        _forwarding_outside,
        "inoltro dell'interno 201: A un numero esterno 0612345678 (linea trunk 2)",
        "forwarding of extension 201: To an external number 0612345678 (line trunk 2)",
    ),
}


def unapplied_changes(hass: HomeAssistant, entry: MockConfigEntry) -> str | None:
    """The `changes` the entry's unapplied-change issue shows, if it is raised."""
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, f"unapplied_forwarding_{entry.entry_id}"
    )
    if issue is None or issue.translation_placeholders is None:
        return None
    return issue.translation_placeholders["changes"]


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set the entry up in the language the test chose."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def leave_unapplied(
    hass: HomeAssistant, reference_pbx: ReferencePbx, change: Change
) -> None:
    """Make the change with the PBX failing its apply."""
    reference_pbx.answer("/pbx/apply", b"Internal Server Error", status=500)
    with pytest.raises(HomeAssistantError) as err:
        await change(hass)
    assert err.value.translation_key == "apply_failed"
    assert reference_pbx.pending is True


@pytest.mark.parametrize(
    ("language", "italian"),
    [("it", True), ("en", False), ("de", False)],
    ids=["italian", "english", "untranslated_language"],
)
@pytest.mark.parametrize("change", list(CHANGES))
async def test_unapplied_change_in_the_users_language(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    change: str,
    language: str,
    italian: bool,
) -> None:
    """Italian for an Italian Home Assistant; English otherwise."""
    hass.config.language = language
    await set_up(hass, reference_entry)
    make, in_italian, in_english = CHANGES[change]
    await leave_unapplied(hass, reference_pbx, make)
    assert unapplied_changes(hass, reference_entry) == (
        in_italian if italian else in_english
    )


async def test_language_changed_after_setup(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
) -> None:
    """Set up in English, then switched to Italian: the issue follows."""
    await set_up(hass, reference_entry)
    await leave_unapplied(hass, reference_pbx, _voicemail_off)
    assert unapplied_changes(hass, reference_entry) == (
        "voicemail of extension 203 turned off"
    )
    await hass.config.async_update(language="it")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert unapplied_changes(hass, reference_entry) == (
        "segreteria telefonica dell'interno 203 disattivata"
    )


def stored_unapplied(entry: MockConfigEntry, unapplied: dict[str, Any]) -> Any:
    """The forwarding storage file with these unapplied changes in it."""
    key = f"{DOMAIN}.{entry.entry_id}.forwarding"
    return {
        "version": 1,
        "key": key,
        "data": {"previous": {}, "targets": {}, "unapplied": unapplied},
    }


async def test_changes_saved_by_earlier_versions_still_shown(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """An English text saved before notes existed is shown as it was saved;
    a saved note whose text is gone shows its key; the rest is translated."""
    hass.config.language = "it"
    hass_storage[f"{DOMAIN}.{reference_entry.entry_id}.forwarding"] = stored_unapplied(
        reference_entry,
        {
            "callgroup:incoming": "202 out of Incoming",
            # The per-extension failover of the oldest versions.
            "201": {"type": "FORWARD_TO_EXTEN", "destination": "205"},
            # A type of a firmware newer than the translations.
            "204": {"type": "FORWARD_TO_PARKING", "destination": "7"},
            # A forwarding note saved with its words already in English.
            "forwarding:202": {
                "translation_key": "change_forwarding",
                "placeholders": {
                    "extension": "202",
                    "forwarding": "forward_to_external_number 333 via TRUNK 2",
                },
            },
            "voicemail:203": {
                "translation_key": "change_voicemail_on",
                "placeholders": {"extension": "203"},
            },
            "zz:gone": {"translation_key": "change_gone", "placeholders": {}},
        },
    )
    reference_pbx.pending = True
    await set_up(hass, reference_entry)
    assert unapplied_changes(hass, reference_entry) == (
        "202 out of Incoming; "
        "inoltro dell'interno 201: A un interno 205; "
        "inoltro dell'interno 202: forward_to_external_number 333 via TRUNK 2; "
        "inoltro dell'interno 204: forward_to_parking 7; "
        "segreteria telefonica dell'interno 203 attivata; "
        "change_gone"
    )


async def test_note_kept_across_a_restart(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Saved as a key and placeholders, the change is named again after a restart."""
    hass.config.language = "it"
    await set_up(hass, reference_entry)
    await leave_unapplied(hass, reference_pbx, _callgroup_member_out)
    assert await hass.config_entries.async_unload(reference_entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"{DOMAIN}.{reference_entry.entry_id}.forwarding"]
    assert list(stored["data"]["unapplied"].values()) == [
        {
            "translation_key": "change_callgroup_out",
            "placeholders": {"extension": "202", "callgroup": "Incoming"},
        }
    ]
    await set_up(hass, reference_entry)
    assert unapplied_changes(hass, reference_entry) == (
        "interno 202 tolto dal gruppo di chiamata Incoming"
    )


async def test_forwarding_note_worded_in_the_language_at_restart(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """A forwarding is saved as type, destination and line, not as English words."""
    await set_up(hass, reference_entry)
    await leave_unapplied(hass, reference_pbx, _forwarding_outside)
    assert unapplied_changes(hass, reference_entry) == (
        "forwarding of extension 201: To an external number 0612345678 (line trunk 2)"
    )
    assert await hass.config_entries.async_unload(reference_entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"{DOMAIN}.{reference_entry.entry_id}.forwarding"]
    assert stored["data"]["unapplied"]["forwarding:201"] == {
        "translation_key": "change_forwarding",
        "placeholders": {
            "extension": "201",
            "forwarding": {
                "translation_key": "forwarding_via_line",
                "placeholders": {
                    "type": {"forwarding_type": "forward_to_external_number"},
                    "destination": "0612345678",
                    "line": "trunk 2",
                },
            },
        },
    }
    await hass.config.async_update(language="it")
    await set_up(hass, reference_entry)
    assert unapplied_changes(hass, reference_entry) == (
        "inoltro dell'interno 201: A un numero esterno 0612345678 (linea trunk 2)"
    )
