"""A PBX stand-in on 127.0.0.1 with canned answers that records every request.

For what the simulator cannot show: the exact (still percent-encoded) path a
request used, the headers it carried, answers of any shape or size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True, slots=True)
class Canned:
    """A fixed answer."""

    body: bytes
    status: int = 200
    content_type: str = "text/xml"


type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
type Answer = Canned | Handler


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as it reached the PBX."""

    method: str
    raw_path: str
    headers: CIMultiDict[str]


@dataclass(slots=True)
class FakePbx:
    """Answers by raw path (without query); anything else is a 404."""

    answers: dict[str, Answer] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    port: int = 0

    @property
    def paths(self) -> list[str]:
        """Raw paths requested, in order."""
        return [request.raw_path for request in self.requests]

    def sent_basic_auth(self) -> bool:
        """Whether any request carried an HTTP Basic `Authorization` header."""
        return any(
            request.headers.get("Authorization", "").lower().startswith("basic")
            for request in self.requests
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.partition("?")[0]
        self.requests.append(
            SeenRequest(request.method, raw_path, CIMultiDict(request.headers))
        )
        answer = self.answers.get(raw_path)
        if answer is None:
            return web.Response(status=404, text="Not Found")
        if isinstance(answer, Canned):
            return web.Response(
                body=answer.body, status=answer.status, content_type=answer.content_type
            )
        return await answer(request)


@asynccontextmanager
async def fake_pbx(answers: dict[str, Answer] | None = None) -> AsyncIterator[FakePbx]:
    """Serve a `FakePbx` on 127.0.0.1 for the duration of the block."""
    pbx = FakePbx(dict(answers or {}))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", pbx._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        pbx.port = int(runner.addresses[0][1])
        yield pbx
    finally:
        await runner.cleanup()
