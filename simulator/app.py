"""The aiohttp application: routes, and in front of every `/rest/` handler the
counters, latency, disabled endpoints, faults, authentication and licence
gating; plus `run_simulator` to serve it on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import format_datetime
import ipaddress
import ssl

from aiohttp import web

from . import control
from .auth import check_basic, check_token
from .calls import CALL_TASKS, cancel_calls
from .notify import Sender
from .rest import ROUTES, STATE_KEY, V4_ROUTES, Handler, reply, state_of, xml_reply
from .state import GATING_ERRORS, Fault, PbxState
from .xml_in import parse_xml, request_parts
from .xml_out import CONTENT_TYPE, LOGIN_HTML, NOT_FOUND_HTML, document, error

REST_PREFIX = "/rest"
ROUTE_KEYS = web.AppKey("route_keys", dict[int, str])
SENDER_KEY = web.AppKey("notification_sender", Sender)
# Reachable whatever the licence says (the reference's list, plus the 4.x salt).
LICENSE_EXEMPT = ("/system/network/", "/license/", "/pbx/apply", "/salt/")
MALFORMED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<kpbx_response><registrations>'
    b"<registration><exten>201</exten><status>OK</status></registrations"
    b"><error><code>0</code></kpbx_response"
)


def not_found() -> web.Response:
    return web.Response(
        text=NOT_FOUND_HTML, status=404, content_type="text/html", charset="utf-8"
    )


def unauthorized(state: PbxState, reason: str) -> web.Response:
    inner = f"<error><code>401</code><message>Unauthorized: {reason}</message></error>"
    headers = {"Content-Type": CONTENT_TYPE}
    if state.auth == "v3":
        headers["WWW-Authenticate"] = 'Basic realm="KalliopePBX"'
    return web.Response(body=document(inner), status=401, headers=headers)


def request_not_allowed(
    code: int, message: str, request_id: str | None
) -> web.Response:
    return reply(error("request_not_allowed", code, message), request_id)


def fault_response(
    state: PbxState, fault: Fault, request: web.Request
) -> web.Response | None:
    """The answer a fault replaces the normal one with (None: answer normally)."""
    kind = fault.kind
    if kind == "http500":
        return web.Response(text="Internal Server Error", status=500)
    if kind == "http401":
        return unauthorized(state, "fault injected")
    if kind == "http403":
        return web.Response(text="Forbidden", status=403)
    if kind == "http404":
        return not_found()
    if kind == "malformed":
        return xml_reply(MALFORMED_XML)
    if kind == "html":
        return web.Response(text=LOGIN_HTML, content_type="text/html", charset="utf-8")
    if kind == "empty":
        return xml_reply(b"")
    if kind == "request_not_allowed":
        return request_not_allowed(*GATING_ERRORS["EXPIRED"], None)
    if kind == "answer" and fault.body is not None:
        return xml_reply(fault.body)
    if kind == "redirect":
        # What a PBX that enforces HTTPS answers a plain HTTP request.
        location = request.url.with_scheme("https").with_port(None)
        return web.Response(status=301, headers={"Location": str(location)})
    return None


def truncate(response: web.StreamResponse) -> web.StreamResponse:
    """The same answer cut in the middle (a valid HTTP message, broken XML)."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    body = response.body
    cut = web.Response(body=body[: len(body) // 2], status=response.status)
    cut.headers["Content-Type"] = response.headers.get("Content-Type", CONTENT_TYPE)
    return cut


def _rest_path(path: str) -> str | None:
    if path == REST_PREFIX or path.startswith(REST_PREFIX + "/"):
        return path[len(REST_PREFIX) :] or "/"
    return None


async def _request_id(request: web.Request) -> str | None:
    """The request_id of a request no handler will see (query, or XML body)."""
    request_id = request.query.get("request_id") or None
    if (
        request_id is None
        and request.method in ("POST", "PUT")
        and request.can_read_body
    ):
        _, request_id = request_parts(parse_xml(await request.read()), "request_id")
    return request_id


@web.middleware
async def rest_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = _rest_path(request.path)
    if path is None:
        return await handler(request)
    state = state_of(request)
    if state.power() != "on":
        # Restarting or halted: nothing answers, the connection just drops.
        if request.transport is not None:
            request.transport.abort()
        return web.Response()
    route = request.match_info.route
    template = request.app[ROUTE_KEYS].get(id(route))
    state.counters[f"{request.method} {template or path}"] += 1
    if state.latency_ms > 0:
        await asyncio.sleep(state.latency_ms / 1000)
    if template is None or state.endpoint_disabled(path):
        return not_found()

    fault = state.take_fault(path)
    if fault is not None:
        if fault.kind == "reset":
            # Drop the connection: aiohttp finds the transport closed and sends nothing.
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay_s or 0)
        else:
            faulty = fault_response(state, fault, request)
            if faulty is not None:
                return faulty

    if not path.startswith("/salt/"):
        if state.auth == "v3":
            reason = check_basic(state, request.headers.get("Authorization"))
        else:
            reason = check_token(state, request.headers.get("X-authenticate"))
        if reason is not None:
            return unauthorized(state, reason)
        gate = GATING_ERRORS.get(state.license_status)
        if gate is not None and not path.startswith(LICENSE_EXEMPT):
            return request_not_allowed(*gate, await _request_id(request))

    response = await handler(request)
    if fault is not None and fault.kind == "truncated":
        return truncate(response)
    return response


async def _not_found_handler(request: web.Request) -> web.Response:
    return not_found()


async def _date_header(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer's Date comes from the simulator's (possibly skewed) clock."""
    state = request.app[STATE_KEY]
    response.headers["Date"] = format_datetime(state.now(), usegmt=True)


async def _background(app: web.Application) -> AsyncIterator[None]:
    """The notification sender and the scripted calls live as long as the app."""
    sender = app[SENDER_KEY]
    await sender.start()
    try:
        yield
    finally:
        await cancel_calls(app)
        await sender.stop()


def create_app(state: PbxState) -> web.Application:
    """The simulator as an aiohttp application (REST API under /rest, control under /_sim)."""
    app = web.Application(middlewares=[rest_middleware], client_max_size=1024 * 1024)
    app[STATE_KEY] = state
    keys: dict[int, str] = {}
    routes = ROUTES + (V4_ROUTES if state.auth == "v4" else ())
    for method, template, handler in routes:
        route = app.router.add_route(method, REST_PREFIX + template, handler)
        keys[id(route)] = template
    app[ROUTE_KEYS] = keys
    app[CALL_TASKS] = set()
    app[SENDER_KEY] = Sender(state.notifications)
    app.cleanup_ctx.append(_background)
    control.add_routes(app)
    # Anything else under /rest (e.g. /rest/salt on a 3.x PBX) is the web server's 404 page.
    app.router.add_route("*", REST_PREFIX + "/{tail:.*}", _not_found_handler)
    app.on_response_prepare.append(_date_header)  # type: ignore[arg-type]  # aiohttp 3.11 Signal typing
    return app


@dataclass
class RunningSimulator:
    """A simulator being served; `url` is the base URL (without /rest)."""

    state: PbxState
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/rest"

    @property
    def control_url(self) -> str:
        return f"{self.url}/_sim"


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the simulator binds to loopback only, not {host!r}")


@asynccontextmanager
async def run_simulator(
    state: PbxState,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[RunningSimulator]:
    """Serve `state` on loopback (port 0: any free port) until the block ends."""
    _check_loopback(host)
    runner = web.AppRunner(
        create_app(state), handle_signals=False, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        scheme = "https" if ssl_context is not None else "http"
        yield RunningSimulator(state, host, bound_port, scheme)
    finally:
        await runner.cleanup()
