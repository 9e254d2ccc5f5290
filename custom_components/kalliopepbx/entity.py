"""Base entity, device info and dynamic entity creation for KalliopePBX."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .compat import VIA_DEVICE_ID_SUPPORTED
from .const import DOMAIN, MANUFACTURER, MODEL
from .polling import KalliopeCoordinator
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData
from .sources import DataSource

# Lets action fields offer only extension devices.
EXTENSION_MODEL_ID = "extension"


def pbx_device_info(entry: KalliopeConfigEntry, pbx_id: str) -> DeviceInfo:
    """The PBX's own device, registered before the platforms."""
    return DeviceInfo(
        identifiers={(DOMAIN, pbx_id)},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model=MODEL,
    )


def extension_name(runtime: KalliopeRuntimeData, exten: str) -> str:
    """`First Last` as configured on the PBX, else `Extension 201`."""
    config = runtime.config(exten) or runtime.extensions.get(exten)
    return (config.name if config else None) or f"Extension {exten}"


def extension_device_info(runtime: KalliopeRuntimeData, exten: str) -> DeviceInfo:
    """An extension's device, linked to its PBX.

    The entities of one extension share one (read-only) description: with
    thousands of extensions, one per entity would be megabytes.
    """
    name = extension_name(runtime, exten)
    shared: DeviceInfo | None = runtime.device_infos.get(exten)
    if shared is None or shared.get("name") != name:
        shared = runtime.device_infos[exten] = _extension_device_info(
            runtime, exten, name
        )
    return shared


def _extension_device_info(
    runtime: KalliopeRuntimeData, exten: str, name: str
) -> DeviceInfo:
    pbx_id = runtime.system.pbx_id
    # Newer cores link by the PBX device's id; older ones by its identifier.
    link: dict[str, Any] = (
        {"via_device_id": runtime.pbx_device_id}
        if VIA_DEVICE_ID_SUPPORTED
        else {"via_device": (DOMAIN, pbx_id)}
    )
    info: DeviceInfo = DeviceInfo(
        identifiers={(DOMAIN, f"{pbx_id}_{exten}")},
        name=name,
        manufacturer=MANUFACTURER,
        model=f"Extension {exten}",
        model_id=EXTENSION_MODEL_ID,
        **link,  # type: ignore[typeddict-item]
    )
    return info


_UNWRITTEN = object()


@dataclass(frozen=True, kw_only=True)
class KalliopeEntityDescription[ModelT](EntityDescription):
    """What every entity here is described by: its source and the model functions."""

    source: DataSource[ModelT]
    # The state, from the model; `missing_value` while the source has none.
    value_fn: Callable[[ModelT], Any] = lambda _: None
    missing_value: Any = None
    attributes_fn: Callable[[ModelT], Mapping[str, Any]] | None = None
    # Unavailable without a model (a mailbox that did not answer, an
    # extension's configuration not read), rather than an unknown state.
    requires_model: bool = False
    available_fn: Callable[[ModelT], bool] = lambda _: True
    # Whether the entity is created at all (firmware features, options).
    exists_fn: Callable[[KalliopeRuntimeData, str | None], bool] = lambda *_: True


def entity_identity(
    runtime: KalliopeRuntimeData, key: str, exten: str | None
) -> tuple[str, DeviceInfo]:
    """Unique id and device of an entity of the PBX (`exten` None) or an extension."""
    pbx_id = runtime.system.pbx_id
    if exten is None:
        return f"{pbx_id}_{key}", DeviceInfo(identifiers={(DOMAIN, pbx_id)})
    return f"{pbx_id}_{exten}_{key}", extension_device_info(runtime, exten)


class WritesWhenChanged(Entity):
    """Writes its state only when what it shows changed.

    So an update that changes nothing writes nothing.
    """

    # What the last state write showed; a class default until the first one,
    # so an instance holds one attribute less.
    _written: object = _UNWRITTEN

    def _shown(self) -> object:
        """What a state write would show now."""
        return None

    async def async_added_to_hass(self) -> None:
        """Remember what the first state write will show."""
        await super().async_added_to_hass()
        self._written = self._shown()

    @callback
    def async_write_if_changed(self) -> None:
        """Write the state if what it shows is not what was written last."""
        shown = self._shown()
        if shown != self._written:
            self._written = shown
            self.async_write_ha_state()

    @callback
    def async_write_shown(self) -> None:
        """Write the state now (after a change made here), remembering it."""
        self._written = self._shown()
        self.async_write_ha_state()


class KalliopeEntity[ModelT](
    WritesWhenChanged, CoordinatorEntity[KalliopeCoordinator[Any]]
):
    """An entity of the PBX (`exten` None) or of one extension, fed by a coordinator."""

    _attr_has_entity_name = True
    entity_description: KalliopeEntityDescription[ModelT]

    def __init__(
        self,
        runtime: KalliopeRuntimeData,
        description: KalliopeEntityDescription[ModelT],
        exten: str | None = None,
    ) -> None:
        """Attach to the description's coordinator, keyed by the extension."""
        super().__init__(description.source.coordinator(runtime), context=exten)
        self.entity_description = description
        self.runtime = runtime
        self.exten = exten
        self._attr_unique_id, self._attr_device_info = entity_identity(
            runtime, description.key, exten
        )

    @property
    def extension(self) -> str:
        """The extension of an extension entity."""
        if self.exten is None:
            raise TypeError(f"{self.entity_description.key} is an entity of the PBX")
        return self.exten

    @property
    def model(self) -> ModelT | None:
        """The model of this entity in its source's latest data."""
        return self.entity_description.source.model(self.runtime, self.exten)

    def _value(self, model: ModelT | None) -> Any:
        if model is None:
            return self.entity_description.missing_value
        return self.entity_description.value_fn(model)

    def _attributes(self, model: ModelT | None) -> Mapping[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        if model is None or attributes_fn is None:
            return None
        return attributes_fn(model)

    @property
    def available(self) -> bool:
        """Unavailable when the coordinator failed or the data is gone."""
        return self._available(self.model)

    def _available(self, model: ModelT | None) -> bool:
        if not super().available:
            return False
        if self.exten is not None and self.exten not in self.runtime.extensions:
            return False
        if model is None:
            return not self.entity_description.requires_model
        return self.entity_description.available_fn(model)

    def _fingerprint(self, model: ModelT | None) -> object:
        """What the state shows; equal fingerprints mean nothing to write."""
        value = self._value(model)
        if self.entity_description.attributes_fn is None:
            # The value alone: no tuple kept per entity for most entities.
            return value
        attributes = self._attributes(model)
        return (value, tuple(attributes.items()) if attributes else None)

    def _shown(self) -> tuple[bool, object]:
        # One model lookup for both halves of what a write would show.
        model = self.model
        return (self._available(model), self._fingerprint(model))

    @callback
    def _handle_coordinator_update(self) -> None:
        self.async_write_if_changed()


class PerExtensionDescription(Protocol):
    """What creating entities per extension needs of a description."""

    @property
    def key(self) -> str:
        """The last part of the unique id."""

    @property
    def exists_fn(self) -> Callable[[KalliopeRuntimeData, str | None], bool]:
        """Whether an extension (or the PBX, for None) gets the entity."""


@callback
def async_add_extension_entities[DescriptionT: PerExtensionDescription](
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    platform: str,
    descriptions: Iterable[DescriptionT],
    entity_class: Callable[[KalliopeRuntimeData, DescriptionT, str], Entity],
) -> None:
    """Create entities per extension now and whenever the PBX gains some.

    Entities whose feature went away (e.g. voicemail turned off on the PBX
    or in the options, also while Home Assistant was not running) are removed
    from the entity registry; removed extensions lose their whole device
    elsewhere.
    """
    runtime = entry.runtime_data
    descriptions = tuple(descriptions)
    pbx_id = runtime.system.pbx_id
    registry = er.async_get(runtime.system.hass)
    keys = {description.key for description in descriptions}
    prefix = f"{pbx_id}_"
    # Keys of the entities per extension registered by an earlier run (each
    # dropped by the first sync of its extension if not wanted any more), and
    # of those this run added.
    registered: dict[str, set[str]] = {}
    for entity_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        unique_id = entity_entry.unique_id
        if entity_entry.domain != platform or not unique_id.startswith(prefix):
            continue
        exten, _, key = unique_id.removeprefix(prefix).partition("_")
        if key in keys:
            registered.setdefault(exten, set()).add(key)
    added: dict[str, tuple[str, ...]] = {}

    @callback
    def sync() -> None:
        system = runtime.system
        if not system.extensions_fetched:
            return
        extensions = runtime.extensions
        # Only the extensions whose configuration changed, when the system
        # coordinator knows which: a change to one extension of thousands
        # costs one extension's work.
        extens = system.changed_keys
        if extens is None:
            extens = extensions.keys() | added.keys() | registered.keys()
        new: list[tuple[str, str, DescriptionT]] = []
        for exten in extens:
            wanted = (
                {
                    description.key: description
                    for description in descriptions
                    if description.exists_fn(runtime, exten)
                }
                if exten in extensions
                else {}
            )
            done = added.pop(exten, ())
            for key in registered.pop(exten, set()).union(done) - wanted.keys():
                entity_id = registry.async_get_entity_id(
                    platform, DOMAIN, f"{pbx_id}_{exten}_{key}"
                )
                if entity_id is not None:
                    registry.async_remove(entity_id)
            new.extend(
                (exten, key, description)
                for key, description in wanted.items()
                if key not in done
            )
            if wanted:
                added[exten] = tuple(wanted)
        if new:
            new.sort(key=itemgetter(0, 1))
            async_add_entities(
                [
                    entity_class(runtime, description, exten)
                    for exten, _, description in new
                ]
            )

    sync()
    entry.async_on_unload(runtime.system.async_add_listener(sync))


type SetupEntry = Callable[
    [HomeAssistant, KalliopeConfigEntry, AddConfigEntryEntitiesCallback],
    Coroutine[Any, Any, None],
]


def platform_setup(
    platform: Platform,
    entity_class: type[KalliopeEntity[Any]],
    *,
    pbx: Iterable[KalliopeEntityDescription[Any]] = (),
    extensions: Iterable[KalliopeEntityDescription[Any]] = (),
    prune_pbx: bool = False,
    also: Callable[[KalliopeConfigEntry, AddConfigEntryEntitiesCallback], None]
    | None = None,
) -> SetupEntry:
    """A platform's `async_setup_entry`.

    It adds the PBX's entities whose feature exists and those of every
    extension, now and when extensions appear. `prune_pbx`: a PBX entity
    whose feature went away (turned off in the options) is removed from the
    entity registry rather than left orphaned. `also` adds the platform's
    entities that are not polled (live call events).
    """
    pbx = tuple(pbx)
    extensions = tuple(extensions)

    async def async_setup_entry(
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        runtime = entry.runtime_data
        if pbx:
            exists = [(d, d.exists_fn(runtime, None)) for d in pbx]
            if prune_pbx:
                gone = (d for d, there in exists if not there)
                _remove_pbx_entities(runtime, platform, gone)
            async_add_entities(entity_class(runtime, d) for d, there in exists if there)
        if extensions:
            async_add_extension_entities(
                entry, async_add_entities, platform, extensions, entity_class
            )
        if also is not None:
            also(entry, async_add_entities)

    return async_setup_entry


def _remove_pbx_entities(
    runtime: KalliopeRuntimeData,
    platform: Platform,
    descriptions: Iterable[KalliopeEntityDescription[Any]],
) -> None:
    registry = er.async_get(runtime.system.hass)
    for description in descriptions:
        unique_id = f"{runtime.system.pbx_id}_{description.key}"
        if entity_id := registry.async_get_entity_id(platform, DOMAIN, unique_id):
            registry.async_remove(entity_id)
