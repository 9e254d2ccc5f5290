"""Where an entity's data comes from: a coordinator and the typed model in it.

A description names its source; the base entity looks the model up once and
hands it to the description's functions, so mypy checks every lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .api import Registration, UserConfig, VoicemailCount
from .data import RegistrationsData, SystemData, VoicemailData
from .polling import KalliopeCoordinator
from .runtime import KalliopeRuntimeData


@dataclass(frozen=True, slots=True)
class DataSource[ModelT]:
    """One coordinator, and how an entity finds its model in that coordinator's data."""

    coordinator: Callable[[KalliopeRuntimeData], KalliopeCoordinator[Any]]
    # (runtime, extension or None for the PBX) -> the model, None if absent.
    model: Callable[[KalliopeRuntimeData, str | None], ModelT | None]


# The PBX's entities: a coordinator's whole data.
REGISTRATIONS: DataSource[RegistrationsData] = DataSource(
    coordinator=lambda runtime: runtime.registrations,
    model=lambda runtime, _: runtime.registrations.latest,
)
VOICEMAIL: DataSource[VoicemailData] = DataSource(
    coordinator=lambda runtime: runtime.voicemail,
    model=lambda runtime, _: runtime.voicemail.latest,
)
SYSTEM: DataSource[SystemData] = DataSource(
    coordinator=lambda runtime: runtime.system,
    model=lambda runtime, _: runtime.system.latest,
)

# An extension's entities: its own entry in a coordinator's data.
REGISTRATION: DataSource[Registration] = DataSource(
    coordinator=lambda runtime: runtime.registrations,
    model=lambda runtime, exten: (
        runtime.registration(exten) if exten is not None else None
    ),
)
MAILBOX: DataSource[VoicemailCount] = DataSource(
    coordinator=lambda runtime: runtime.voicemail,
    model=lambda runtime, exten: (
        runtime.voicemail_count(exten) if exten is not None else None
    ),
)
EXTENSION_CONFIG: DataSource[UserConfig] = DataSource(
    coordinator=lambda runtime: runtime.system,
    model=lambda runtime, exten: runtime.config(exten) if exten is not None else None,
)
