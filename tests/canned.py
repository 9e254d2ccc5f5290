"""A PBX stand-in on 127.0.0.1 answering canned bodies, for answers shaped
exactly like the vendor's documentation rather than like our simulator's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

CONTENT_TYPES = {
    "xml": "text/xml",
    "json": "application/json",
    "csv": "text/csv",
}


@dataclass
class CannedPbx:
    """Where it listens and what it was asked (method, path, body)."""

    host: str
    port: int
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)


@asynccontextmanager
async def canned_pbx(
    bodies: dict[str, tuple[bytes, str]],
) -> AsyncIterator[CannedPbx]:
    """Answer `bodies[path]` = (body, content type) with HTTP 200 (path
    without `/rest`), anything else with 404."""
    requests: list[tuple[str, str, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        path = request.path.removeprefix("/rest")
        requests.append((request.method, path, await request.read()))
        if path not in bodies:
            return web.Response(status=404, text="Not Found")
        body, content_type = bodies[path]
        return web.Response(body=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield CannedPbx("127.0.0.1", int(runner.addresses[0][1]), requests)
    finally:
        await runner.cleanup()
