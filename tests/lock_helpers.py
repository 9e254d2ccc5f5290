"""A configuration change held between its write and its apply, for lock tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant

from custom_components.kalliopepbx.api import KalliopeClient

from .conftest import call_action, switch_to


class HeldChange:
    """The order of the client's requests, and the way to let the change go on."""

    def __init__(
        self, change: asyncio.Task[Any], release: asyncio.Event, order: list[str]
    ) -> None:
        """`change` waits at its write until `release` is set."""
        self.order = order
        self._change = change
        self._release = release

    async def finish(self, *others: Awaitable[Any]) -> list[Any]:
        """Let the held change go on; wait for it, then for the others."""
        self._release.set()
        await self._change
        return [await other for other in others]


@asynccontextmanager
async def change_held_at_write(
    hass: HomeAssistant,
    client: KalliopeClient,
    start: Callable[[], Awaitable[Any]],
    *,
    write: str,
    record: Iterable[str] = (),
) -> AsyncIterator[HeldChange]:
    """Start a change and hold its first `write` request until `finish`.

    The held change records, by method name and as they are made, the
    client's requests named `write` and in `record` until the block ends.
    """
    order: list[str] = []
    written = asyncio.Event()
    release = asyncio.Event()

    def recorded(name: str) -> Callable[..., Awaitable[Any]]:
        real = getattr(client, name)

        async def request(*args: Any, **kwargs: Any) -> Any:
            order.append(name)
            if name == write and not written.is_set():
                written.set()
                await release.wait()
            return await real(*args, **kwargs)

        return request

    with ExitStack() as patches:
        for name in {write, *record}:
            patches.enter_context(patch.object(client, name, recorded(name)))
        held = HeldChange(hass.async_create_task(start()), release, order)
        async with asyncio.timeout(10):
            await written.wait()
        try:
            yield held
        finally:
            await held.finish()


async def let_others_run() -> None:
    """Every chance for a waiting task to jump the queue.

    A while, not a few loop turns: a request may first wait for executor
    jobs (a backup opens its file) before it reaches the lock.
    """
    await asyncio.sleep(0.2)


def forwarding_change_held(
    hass: HomeAssistant, client: KalliopeClient, record: Iterable[str]
) -> AbstractAsyncContextManager[HeldChange]:
    """201 forwarded to 205 through the action, held at its write."""
    return change_held_at_write(
        hass,
        client,
        lambda: call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        ),
        write="set_failover",
        record=record,
    )


async def off_then_on(
    hass: HomeAssistant, client: KalliopeClient, entity_id: str, *, write: str
) -> list[str]:
    """Turn a switch off and, while that change is held, on: the requests made."""
    async with change_held_at_write(
        hass, client, lambda: switch_to(hass, entity_id, "turn_off"), write=write
    ) as held:
        on = hass.async_create_task(switch_to(hass, entity_id, "turn_on"))
        await let_others_run()
        await held.finish(on)
    return held.order
