"""The `/_sim/` control API: JSON in, JSON out, no authentication.

Tests, benchmarks and demos use it to change the PBX behind the client's
back. Bad input answers 400 `{"error": "..."}`; an unknown extension 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import json
from typing import Any

from aiohttp import web

from .calls import launch, start_call
from .notify import severity_level
from .rest import STATE_KEY
from .state import PbxState, check_text

PREFIX = "/_sim"
JsonHandler = Callable[[PbxState, dict[str, Any], web.Request], Any]


class BadInputError(Exception):
    """The request body does not say what the route needs."""


def _field[T](
    data: dict[str, Any], key: str, kind: type[T], *, required: bool = True
) -> T | None:
    if key not in data or data[key] is None:
        if required:
            raise BadInputError(f"missing {key!r}")
        return None
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool):
        raise BadInputError(f"{key!r} must be an integer")
    if not isinstance(value, kind):
        raise BadInputError(f"{key!r} must be {kind.__name__}")
    if isinstance(value, str):
        try:
            check_text(value, key)
        except ValueError as err:
            raise BadInputError(str(err)) from None
    return value


def _required[T](data: dict[str, Any], key: str, kind: type[T]) -> T:
    value = _field(data, key, kind)
    assert value is not None  # noqa: S101 - _field raised otherwise
    return value


def _ok(**extra: Any) -> dict[str, Any]:
    return {"ok": True, **extra}


def _endpoint(func: JsonHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        data: dict[str, Any] = {}
        if request.method in ("POST", "PUT"):
            raw = await request.read()
            if raw.strip():
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    return web.json_response({"error": "body is not JSON"}, status=400)
                if not isinstance(parsed, dict):
                    return web.json_response(
                        {"error": "body must be an object"}, status=400
                    )
                data = parsed
        try:
            result = func(request.app[STATE_KEY], data, request)
        except BadInputError as err:
            return web.json_response({"error": str(err)}, status=400)
        except KeyError as err:
            return web.json_response({"error": f"unknown: {err.args[0]}"}, status=404)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response(
            result, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    return handler


def get_state(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    return state.summary()


def get_counters(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    return dict(sorted(state.counters.items()))


def reset_counters(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.reset_counters()
    return _ok()


def set_registration(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    exten = _required(data, "exten", str)
    if exten not in state.extensions:
        raise BadInputError(f"unknown extension {exten}")
    port = data.get("port")
    if port is not None and not isinstance(port, int | str):
        raise BadInputError("'port' must be an integer or a string")
    state.set_registration(
        exten,
        _required(data, "status", str),
        _field(data, "rtt_ms", int, required=False),
        contact=_field(data, "contact", str, required=False),
        ip=_field(data, "ip", str, required=False),
        port=port,
        useragent=_field(data, "useragent", str, required=False),
    )
    return _ok(extension=state.extension_dict(exten))


def change_registrations(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    fraction = _required(data, "fraction", float)
    seed = _field(data, "seed", int, required=False)
    changed = state.change_registrations(fraction, 1 if seed is None else seed)
    return _ok(changed=changed)


def set_voicemail(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    mailbox = _required(data, "mailbox", str)
    if mailbox not in state.extensions:
        raise BadInputError(f"unknown mailbox {mailbox}")
    state.set_voicemail(
        mailbox,
        new=_field(data, "new", int, required=False),
        urgent=_field(data, "urgent", int, required=False),
        old=_field(data, "old", int, required=False),
    )
    counts = state.voicemails[mailbox]
    return _ok(
        voicemail={"urgent": counts.urgent, "new": counts.new, "old": counts.old}
    )


def set_license(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.set_license(
        _required(data, "status", str),
        _field(data, "licensed_exten", int, required=False),
    )
    return _ok(
        license={"status": state.license_status, "licensed_exten": state.licensed_exten}
    )


def add_extension(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    exten = _required(data, "exten", str)
    vm_enabled = _field(data, "vm_enabled", bool, required=False)
    registered = _field(data, "registered", bool, required=False)
    state.add_extension(
        exten,
        _required(data, "first_name", str),
        _required(data, "last_name", str),
        vm_enabled=bool(vm_enabled),
        registered=True if registered is None else registered,
    )
    return _ok(extension=state.extension_dict(exten))


def remove_extension(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    state.remove_extension(request.match_info["exten"])
    return _ok()


def get_extension(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    exten = request.match_info["exten"]
    found = state.extension_dict(exten)
    if found is None:
        raise KeyError(exten)
    return found


def set_latency(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.set_latency(_required(data, "ms", float))
    return _ok(latency_ms=state.latency_ms)


def add_fault(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    count = _field(data, "count", int, required=False)
    body = _field(data, "body", str, required=False)
    state.add_fault(
        _required(data, "path", str),
        _required(data, "kind", str),
        1 if count is None else count,
        _field(data, "delay_s", float, required=False),
        body.encode() if body is not None else None,
        exact=bool(_field(data, "exact", bool, required=False)),
    )
    return _ok(faults=state.summary()["faults"])


def list_faults(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    return {"faults": state.summary()["faults"]}


def clear_faults(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.clear_faults()
    return _ok()


def disable_endpoint(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    state.disable_endpoint(_required(data, "prefix", str))
    return _ok(disabled_endpoints=state.disabled_endpoints)


def enable_endpoint(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.enable_endpoint(_required(data, "prefix", str))
    return _ok(disabled_endpoints=state.disabled_endpoints)


def set_clock(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.set_clock_offset(_required(data, "offset_s", float))
    return _ok(clock_offset_s=state.clock_offset_s)


def set_password(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.set_password(_required(data, "password", str))
    return _ok()


def set_pending(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.set_pending(_required(data, "pending", bool))
    return _ok(pending=state.pending)


def get_calls(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    return {
        "calls": [
            {
                "exten": c.exten,
                "number": c.number,
                "type": c.type,
                "time": c.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "unique_id": c.unique_id,
            }
            for c in state.placed_calls
        ],
        "in_progress": [c.as_dict() for c in state.active_calls.values()],
    }


def place_call(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    ring_time = _field(data, "ring_time", float, required=False)
    talk_time = _field(data, "talk_time", float, required=False)
    call = start_call(
        state,
        _required(data, "from", str),
        _required(data, "to", str),
        _required(data, "outcome", str),
        ring_time=2.0 if ring_time is None else ring_time,
        talk_time=5.0 if talk_time is None else talk_time,
        caller_name=_field(data, "caller_name", str, required=False),
        did=_field(data, "did", str, required=False),
    )
    launch(request.app, state, call)
    return _ok(uniqueid=call.uniqueid)


def set_missed_call_event(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    exten = _required(data, "exten", str)
    if exten not in state.extensions:
        raise BadInputError(f"unknown extension {exten}")
    state.set_missed_call_event(exten, _required(data, "generate", bool))
    return _ok(extension=state.extension_dict(exten))


# ---------------------------------------------------------------- notifications


def _severity(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int | str):
        raise BadInputError(f"{key!r} must be 0..4 or a severity name")
    return severity_level(value)


def _strings(data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadInputError(f"{key!r} must be an object of strings")
    return value


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise BadInputError(f"invalid id {raw!r}")
    return int(raw)


def get_notifications(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    return state.notifications.as_dict()


def add_action(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    enabled = _field(data, "enabled", bool, required=False)
    action = state.notifications.add_action(
        _required(data, "name", str),
        _required(data, "url", str),
        method=_field(data, "method", str, required=False) or "POST",
        auth=_field(data, "auth", str, required=False) or "none",
        username=_field(data, "username", str, required=False) or "",
        password=_field(data, "password", str, required=False) or "",
        content=_field(data, "content", str, required=False) or "",
        content_type=_field(data, "content_type", str, required=False)
        or "application/json",
        enabled=True if enabled is None else enabled,
    )
    return _ok(id=action.id)


def remove_action(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.notifications.remove_action(_id(request))
    return _ok()


def add_list_entry(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    enabled = _field(data, "enabled", bool, required=False)
    entry = state.notifications.add_entry(
        _required(data, "name", str),
        _required(data, "event", str),
        _required(data, "action", int),
        severity=_severity(data, "severity"),
        enabled=True if enabled is None else enabled,
    )
    return _ok(id=entry.id)


def remove_list_entry(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    state.notifications.remove_entry(_id(request))
    return _ok()


def set_param_names(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.notifications.set_param_names(_strings({"names": data}, "names"))
    return _ok(param_names=state.notifications.param_names)


def emit_event(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    severity = _severity(data, "severity")
    event = state.emit_event(
        _required(data, "name", str),
        _strings(data, "params"),
        description=_field(data, "description", str, required=False) or "",
        severity=3 if severity is None else severity,
    )
    return _ok(event_id=event.id)


def set_update_status(
    state: PbxState, data: dict[str, Any], request: web.Request
) -> Any:
    state.set_update_status(_required(data, "code", int))
    return _ok(update_status=state.update_status)


def set_backup(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.set_backup(
        size=_field(data, "size", int, required=False),
        error=_field(data, "error", int, required=False),
        error_content_type=_field(data, "error_content_type", str, required=False),
        disposition=_field(data, "disposition", str, required=False),
        delay_s=_field(data, "delay_s", float, required=False),
        chunk_delay_s=_field(data, "chunk_delay_s", float, required=False),
        keep_error="error" not in data,
        keep_disposition="disposition" not in data,
    )
    return _ok(backup=state.summary()["backup"])


def set_power(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.set_power_times(
        restart_s=_field(data, "restart_s", float, required=False),
        halt_s=_field(data, "halt_s", float, required=False),
    )
    return _ok(restart_s=state.restart_down_s, halt_s=state.halt_down_s)


def power_on(state: PbxState, data: dict[str, Any], request: web.Request) -> Any:
    state.power_on()
    return _ok(power=state.power())


CONTROL_ROUTES: tuple[tuple[str, str, JsonHandler], ...] = (
    ("GET", "/state", get_state),
    ("GET", "/counters", get_counters),
    ("POST", "/counters/reset", reset_counters),
    ("POST", "/registration", set_registration),
    ("POST", "/registrations/change", change_registrations),
    ("POST", "/voicemail", set_voicemail),
    ("POST", "/license", set_license),
    ("POST", "/extensions", add_extension),
    ("GET", "/extensions/{exten}", get_extension),
    ("DELETE", "/extensions/{exten}", remove_extension),
    ("POST", "/latency", set_latency),
    ("GET", "/faults", list_faults),
    ("POST", "/faults", add_fault),
    ("DELETE", "/faults", clear_faults),
    ("POST", "/endpoints/disable", disable_endpoint),
    ("POST", "/endpoints/enable", enable_endpoint),
    ("POST", "/clock", set_clock),
    ("POST", "/password", set_password),
    ("POST", "/pending", set_pending),
    ("GET", "/calls", get_calls),
    ("POST", "/call", place_call),
    ("POST", "/missed_call_event", set_missed_call_event),
    ("GET", "/notifications", get_notifications),
    ("POST", "/notifications/actions", add_action),
    ("DELETE", "/notifications/actions/{id}", remove_action),
    ("POST", "/notifications/list", add_list_entry),
    ("DELETE", "/notifications/list/{id}", remove_list_entry),
    ("POST", "/notifications/param_names", set_param_names),
    ("POST", "/event", emit_event),
    ("POST", "/update_status", set_update_status),
    ("POST", "/backup", set_backup),
    ("POST", "/power", set_power),
    ("POST", "/power/on", power_on),
)


def add_routes(app: web.Application) -> None:
    for method, path, func in CONTROL_ROUTES:
        app.router.add_route(method, PREFIX + path, _endpoint(func))
