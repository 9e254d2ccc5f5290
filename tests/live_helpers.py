"""Sending live call events the way the PBX does, for the tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import json

from aiohttp import ClientResponse

from custom_components.kalliopepbx.api import NOTIFICATION_TEMPLATE

Post = Callable[..., Awaitable[ClientResponse]]


_event_ids = iter(range(1, 1_000_000))


def notification(
    name: str,
    params: dict[str, str] | str,
    *,
    event_id: int | None = None,
    timestamp: float = 1764640000.0,
    description: str = "",
) -> str:
    """Our template filled in as the PBX does: plain substitution."""
    rendered = NOTIFICATION_TEMPLATE
    for placeholder, value in {
        "%event_id%": str(event_id if event_id is not None else next(_event_ids)),
        "%event_name%": name,
        "%event_severity%": "3",
        "%event_timestamp%": f"{timestamp:.1f}",
        "%event_description%": description,
        "%call_params[JSON]%": params
        if isinstance(params, str)
        else json.dumps(params),
    }.items():
        rendered = rendered.replace(placeholder, value)
    return rendered


def call(call_id: str, *, extension: str = "201", **params: str) -> dict[str, str]:
    """Parameters of an extension event from an outside caller."""
    return {
        "uniqueid": call_id,
        "extension": extension,
        "caller_num": "0612345678",
        "called_num": "0240404040",
        **params,
    }
