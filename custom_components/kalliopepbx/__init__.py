"""The KalliopePBX integration."""

from __future__ import annotations

import asyncio

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_VERIFY_SSL,
    Platform,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import KalliopeClient, credentials_from_dict
from .backups import PbxBackups
from .callgroups import CallGroupMembers
from .compat import AUTOMATIC_OPTIONS_RELOAD
from .const import CONF_AUTH, CONF_PBX_ID, DOMAIN, REQUEST_TIMEOUT
from .coordinator import (
    RegistrationsCoordinator,
    SystemCoordinator,
    VoicemailCoordinator,
)
from .devices import ExtensionDevices, async_create_pbx_device
from .extension_filter import extension_filter_from_options
from .forwarding import ForwardingManager
from .health import PbxHealth
from .intent_calls import async_setup_call_intents
from .intents import async_setup_intents
from .live_events import LiveEvents, async_remove_live_events
from .live_voicemail import LiveVoicemail
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData
from .services import async_setup_services

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TEXT,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the Assist intents once for every PBX."""
    async_setup_services(hass)
    async_setup_intents(hass)
    async_setup_call_intents(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: KalliopeConfigEntry) -> bool:
    """Connect to the PBX, fetch everything once, then set up the platforms."""
    data = entry.data
    client = KalliopeClient(
        async_get_clientsession(hass, verify_ssl=data[CONF_VERIFY_SSL]),
        data[CONF_HOST],
        port=data.get(CONF_PORT),
        use_ssl=data[CONF_SSL],
        verify_ssl=data[CONF_VERIFY_SSL],
        credentials=credentials_from_dict(data[CONF_AUTH]),
        timeout=REQUEST_TIMEOUT,
    )
    health = PbxHealth(hass, entry.entry_id, entry.title)
    pbx_id: str = data[CONF_PBX_ID]
    system = SystemCoordinator(
        hass,
        entry,
        client,
        health,
        pbx_id=pbx_id,
        extension_filter=extension_filter_from_options(entry.options),
    )
    registrations = RegistrationsCoordinator(hass, entry, client, health)
    voicemail = VoicemailCoordinator(system)
    forwarding = ForwardingManager(hass, entry)
    await forwarding.async_load()
    callgroups = CallGroupMembers(hass, entry)
    await callgroups.async_load()
    live = LiveEvents(
        hass,
        entry,
        client,
        is_extension=lambda number: entry.runtime_data.is_pbx_extension(number),
        extension_name=lambda number: _configured_name(entry, number),
    )
    await live.async_load()
    backups = PbxBackups(hass, entry, pbx_id)
    await backups.async_load()

    await system.async_config_entry_first_refresh()
    if health.license_problem:
        # Keep the entry (and the licence entities and repair issue) up while
        # the licence refuses everything else.
        await asyncio.gather(registrations.async_refresh(), voicemail.async_refresh())
    else:
        await asyncio.gather(
            registrations.async_config_entry_first_refresh(),
            voicemail.async_config_entry_first_refresh(),
        )

    pbx_device = async_create_pbx_device(
        hass, entry, pbx_id, system.data.firmware, str(client.base_url)
    )
    entry.runtime_data = KalliopeRuntimeData(
        client=client,
        health=health,
        registrations=registrations,
        voicemail=voicemail,
        system=system,
        forwarding=forwarding,
        live=live,
        callgroups=callgroups,
        backups=backups,
        pbx_device_id=pbx_device.id,
        options=dict(entry.options),
    )
    # A forwarding change an earlier run wrote but did not apply shows up now.
    forwarding.async_start()
    callgroups.async_start()

    @callback
    def refresh_system_soon() -> None:
        entry.async_create_background_task(
            hass, system.async_request_refresh(), "kalliopepbx system refresh"
        )

    # A licence refusal that starts or ends changes what the system poll sees.
    health.on_license_refusal_change = refresh_system_soon

    @callback
    def new_extensions_seen(extens: set[str]) -> None:
        # A new phone registered: fetch the configuration now, not in 10 min.
        if system.extensions_fetched and any(
            exten not in system.known_extensions
            and exten in system.extension_filter
            and exten not in requested
            for exten in extens
        ):
            requested.update(extens)
            refresh_system_soon()

    requested: set[str] = set()
    registrations.on_new_extensions = new_extensions_seen

    @callback
    def new_mailboxes_seen() -> None:
        # Mailboxes the configuration just revealed (a new extension, or the
        # full list after a broken one): count them now, not a minute later.
        data = voicemail.latest
        polled = (data.counts.keys() | data.failed) if data else set()
        if voicemail.last_update_success and any(
            mailbox not in polled for mailbox in voicemail.mailboxes_to_poll()
        ):
            entry.async_create_background_task(
                hass, voicemail.async_request_refresh(), "kalliopepbx voicemail refresh"
            )

    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    live.async_start()
    LiveVoicemail(hass, entry, live, system, voicemail).async_start()

    devices = ExtensionDevices(hass, entry)
    devices.sync()
    entry.async_on_unload(system.async_add_listener(devices.sync))
    entry.async_on_unload(system.async_add_listener(new_mailboxes_seen))
    entry.async_on_unload(health.clear)
    if not AUTOMATIC_OPTIONS_RELOAD:
        entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: KalliopeConfigEntry) -> bool:
    """Unload the platforms; coordinators stop with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: KalliopeConfigEntry) -> None:
    """The PBX was removed: drop the forwarding it would have restored, and its calls."""
    await ForwardingManager(hass, entry).async_remove()
    await CallGroupMembers(hass, entry).async_remove()
    await async_remove_live_events(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: KalliopeConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete an extension device the PBX no longer has."""
    if entry.state is not ConfigEntryState.LOADED:
        return False
    runtime = entry.runtime_data
    if device.id == runtime.pbx_device_id:
        return False
    pbx_id = runtime.system.pbx_id
    current = {f"{pbx_id}_{exten}" for exten in runtime.extensions}
    return not any(
        domain == DOMAIN and identifier in current
        for domain, identifier in device.identifiers
    )


def _configured_name(entry: KalliopeConfigEntry, number: str) -> str | None:
    """An extension's name as configured on the PBX, for caller names."""
    config = entry.runtime_data.extensions.get(number)
    return config.name if config is not None else None


async def _async_options_updated(
    hass: HomeAssistant, entry: KalliopeConfigEntry
) -> None:
    """Reload on an options change (cores without automatic options reload)."""
    runtime = entry.runtime_data
    if entry.options != runtime.options:
        hass.config_entries.async_schedule_reload(entry.entry_id)
