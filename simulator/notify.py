"""Event notifications: the PBX's "notification actions" (WebService calls) and
"notification list", the events the simulated PBX emits, and the sender that
delivers them over HTTP, to loopback addresses only.

The manual documents the settings and the placeholders; the Content-Type of a
POST, retries and timeouts are not documented: the Content-Type is a setting
here, there are no retries, and every request gives up after 5 seconds.
"""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import ipaddress
import json
import logging
import re
from typing import Any
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

import aiohttp
from yarl import URL

_LOGGER = logging.getLogger(__name__)

# The manual's scale: 4 is the mildest, 0 the worst.
SEVERITIES = {"DEBUG": 4, "INFO": 3, "WARNING": 2, "CRITICAL": 1, "FATAL": 0}
METHODS = ("GET", "POST")
AUTH_TYPES = ("none", "basic")
DEFAULT_CONTENT_TYPE = "application/json"
LOG_SIZE = 200
TIMEOUT_S = 5.0
LOOPBACK_NAMES = ("localhost",)
PLACEHOLDER = re.compile(
    r"%(event_id|event_name|event_description|event_severity|event_timestamp"
    r"|call_params\[(?:JSON|XML|AVP)\])%"
)
_PARAM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def severity_level(value: int | str) -> int:
    """0..4, from the number or its name (`"INFO"`, any case)."""
    level: int | None = None
    if isinstance(value, str):
        level = SEVERITIES.get(value.upper())
    elif not isinstance(value, bool) and value in SEVERITIES.values():
        level = value
    if level is None:
        raise ValueError(f"severity must be one of {tuple(SEVERITIES)} or 0..4")
    return level


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """An http(s) URL on 127.0.0.1, ::1 or localhost; anything else is refused."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a malformed port raises here
    except ValueError:
        raise ValueError(f"invalid URL {url!r}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    if not is_loopback_host(host):
        raise ValueError(
            "notifications go to loopback only (127.0.0.1, ::1, localhost), "
            f"not {host!r}"
        )
    return url


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    name: str
    description: str
    severity: int
    timestamp: float
    params: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.id,
            "name": self.name,
            "description": self.description,
            "severity": self.severity,
            "timestamp": format_timestamp(self.timestamp),
            "params": dict(self.params),
        }


@dataclass(frozen=True, slots=True)
class Action:
    """A WebService notification action."""

    id: int
    name: str
    url: str
    method: str = "POST"
    auth: str = "none"
    username: str = ""
    password: str = ""
    content: str = ""
    content_type: str = DEFAULT_CONTENT_TYPE
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "method": self.method,
            "auth": self.auth,
            "username": self.username,
            "password": self.password,
            "content": self.content,
            "content_type": self.content_type,
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class ListEntry:
    """A line of the notification list: this event goes to that action.

    `severity` (None: the event's own) is what `%event_severity%` says in the
    notifications of this entry; the manual does not say more about it.
    """

    id: int
    name: str
    event: str
    action: int
    severity: int | None = None
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "event": self.event,
            "action": self.action,
            "severity": self.severity,
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request to send: already rendered, so later edits do not change it."""

    event_id: int
    event: str
    entry: int
    action: int
    method: str
    url: str
    body: bytes | None
    content_type: str | None
    auth: tuple[str, str] | None


# ---------------------------------------------------------------- rendering


def format_timestamp(timestamp: float) -> str:
    """Epoch seconds with one decimal, the shape of the manual's `1511212918.0`."""
    return f"{timestamp:.1f}"


def params_json(params: dict[str, str]) -> str:
    return json.dumps(params, ensure_ascii=False, separators=(",", ":"))


def params_xml(params: dict[str, str]) -> str:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in params.items())
    return f'<?xml version="1.0"?><response>{inner}</response>'


def params_avp(params: dict[str, str], encode: Callable[[str], str]) -> str:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in params.items())


def _raw(value: str) -> str:
    return value


def _url_encode(value: str) -> str:
    return quote(value, safe="")


def render(template: str, event: Event, severity: int, *, in_url: bool) -> str:
    """Fill the placeholders in one pass (values are never scanned again).

    In a request body values go in as they are, as a template engine would;
    in a URL each value (each key and value of the AVP form) is URL-encoded.
    """
    encode = _url_encode if in_url else _raw

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "call_params[AVP]":
            return params_avp(event.params, encode)
        text = {
            "event_id": str(event.id),
            "event_name": event.name,
            "event_description": event.description,
            "event_severity": str(severity),
            "event_timestamp": format_timestamp(event.timestamp),
            "call_params[JSON]": params_json(event.params),
            "call_params[XML]": params_xml(event.params),
        }[name]
        return encode(text)

    return PLACEHOLDER.sub(value, template)


# ---------------------------------------------------------------- configuration


@dataclass(eq=False)
class Notifications:
    """Actions, the list, the events emitted and the deliveries made."""

    actions: dict[int, Action] = field(default_factory=dict)
    entries: dict[int, ListEntry] = field(default_factory=dict)
    # Renames parameter keys of emitted events (tests of other names).
    param_names: dict[str, str] = field(default_factory=dict)
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=LOG_SIZE))
    deliveries: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=LOG_SIZE)
    )
    last_event_id: int = 0
    last_action_id: int = 0
    last_entry_id: int = 0
    # Set by the running app's sender; without one, events are only logged.
    sink: Callable[[Delivery], None] | None = None

    def add_action(
        self,
        name: str,
        url: str,
        *,
        method: str = "POST",
        auth: str = "none",
        username: str = "",
        password: str = "",
        content: str = "",
        content_type: str = DEFAULT_CONTENT_TYPE,
        enabled: bool = True,
    ) -> Action:
        if not name:
            raise ValueError("name must not be empty")
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        auth = auth.lower()
        if auth not in AUTH_TYPES:
            raise ValueError(f"auth must be one of {AUTH_TYPES}")
        if auth == "basic" and not username:
            raise ValueError("basic auth needs a username")
        if auth == "basic" and ":" in username:
            raise ValueError("a basic auth username cannot contain ':'")
        if method == "GET" and content:
            raise ValueError("content is for POST actions only")
        if not content_type or re.search(r"[\r\n]", content_type):
            raise ValueError("content_type must be one non-empty header line")
        check_url(url)
        self.last_action_id += 1
        action = Action(
            self.last_action_id,
            name,
            url,
            method,
            auth,
            username if auth == "basic" else "",
            password if auth == "basic" else "",
            content,
            content_type,
            enabled,
        )
        self.actions[action.id] = action
        return action

    def remove_action(self, action_id: int) -> None:
        if action_id not in self.actions:
            raise KeyError(action_id)
        users = sorted(e.id for e in self.entries.values() if e.action == action_id)
        if users:
            raise ValueError(f"action {action_id} is used by list entries {users}")
        del self.actions[action_id]

    def add_entry(
        self,
        name: str,
        event: str,
        action: int,
        *,
        severity: int | None = None,
        enabled: bool = True,
    ) -> ListEntry:
        if not name:
            raise ValueError("name must not be empty")
        if not event:
            raise ValueError("event must not be empty")
        if action not in self.actions:
            raise ValueError(f"unknown action {action}")
        self.last_entry_id += 1
        entry = ListEntry(self.last_entry_id, name, event, action, severity, enabled)
        self.entries[entry.id] = entry
        return entry

    def remove_entry(self, entry_id: int) -> None:
        del self.entries[entry_id]

    def set_param_names(self, names: dict[str, str]) -> None:
        for old, new in names.items():
            if not _PARAM_KEY.match(old) or not _PARAM_KEY.match(new):
                raise ValueError(f"invalid parameter name in {old!r}: {new!r}")
        self.param_names = dict(names)

    def as_dict(self) -> dict[str, Any]:
        return {
            "actions": [a.as_dict() for a in self.actions.values()],
            "list": [e.as_dict() for e in self.entries.values()],
            "param_names": dict(self.param_names),
            "events": [e.as_dict() for e in self.events],
            "deliveries": list(self.deliveries),
        }

    # ------------------------------------------------------------ emitting

    def emit(
        self,
        name: str,
        params: dict[str, str],
        *,
        timestamp: float,
        description: str = "",
        severity: int = SEVERITIES["INFO"],
    ) -> Event:
        """Give the event the next id and queue one delivery per matching entry."""
        self.last_event_id += 1
        renamed = {self.param_names.get(k, k): v for k, v in params.items()}
        event = Event(
            self.last_event_id, name, description, severity, timestamp, renamed
        )
        self.events.append(event)
        for entry in self.entries.values():
            if not entry.enabled or entry.event != name:
                continue
            action = self.actions.get(entry.action)
            if action is None or not action.enabled:
                continue
            delivery = self._delivery(event, entry, action)
            if delivery is not None and self.sink is not None:
                self.sink(delivery)
        return event

    def _delivery(
        self, event: Event, entry: ListEntry, action: Action
    ) -> Delivery | None:
        severity = event.severity if entry.severity is None else entry.severity
        if action.method == "GET":
            url = render(action.url, event, severity, in_url=True)
            body = None
        else:
            url = action.url
            body = render(action.content, event, severity, in_url=False).encode()
        try:
            # Placeholders could have changed the host: check what is sent.
            check_url(url)
        except ValueError as err:
            self.log(event.id, event.name, entry.id, action.id, url, error=str(err))
            return None
        auth = (action.username, action.password) if action.auth == "basic" else None
        return Delivery(
            event.id,
            event.name,
            entry.id,
            action.id,
            action.method,
            url,
            body,
            action.content_type if body is not None else None,
            auth,
        )

    def log(
        self,
        event_id: int,
        event: str,
        entry: int,
        action: int,
        url: str,
        *,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        self.deliveries.append(
            {
                "event_id": event_id,
                "event": event,
                "entry": entry,
                "action": action,
                "url": url,
                "status": status,
                "error": error,
            }
        )


# ---------------------------------------------------------------- sending


class Sender:
    """One task sending the queued deliveries in event order, one at a time."""

    def __init__(self, notifications: Notifications) -> None:
        self.notifications = notifications
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.session: aiohttp.ClientSession | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
        )
        self.task = asyncio.create_task(self._run(), name="kalliopepbx-sim-notify")
        self.notifications.sink = self.queue.put_nowait

    async def stop(self) -> None:
        if self.notifications.sink == self.queue.put_nowait:
            self.notifications.sink = None
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.session is not None:
            await self.session.close()

    async def idle(self) -> None:
        """Wait until every queued delivery has been attempted."""
        await self.queue.join()

    async def _run(self) -> None:
        while True:
            delivery = await self.queue.get()
            try:
                await self._send(delivery)
            finally:
                self.queue.task_done()

    async def _send(self, delivery: Delivery) -> None:
        assert self.session is not None  # noqa: S101 - set by start()
        status: int | None = None
        error: str | None = None
        headers = {}
        if delivery.content_type is not None:
            headers["Content-Type"] = delivery.content_type
        if delivery.auth:
            # RFC 7617's UTF-8, built here: aiohttp's BasicAuth is deprecated.
            user, password = delivery.auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        try:
            check_url(delivery.url)
            async with self.session.request(
                delivery.method,
                URL(delivery.url, encoded=True),
                data=delivery.body,
                headers=headers,
                # A redirect could lead off loopback.
                allow_redirects=False,
            ) as resp:
                status = resp.status
                await resp.read()
        except TimeoutError:
            error = f"timeout after {TIMEOUT_S:g} s"
        except (aiohttp.ClientError, ValueError, OSError) as err:
            error = f"{type(err).__name__}: {err}"
        if error is not None:
            _LOGGER.debug(
                "event %s to %s failed: %s", delivery.event_id, delivery.url, error
            )
        self.notifications.log(
            delivery.event_id,
            delivery.event,
            delivery.entry,
            delivery.action,
            delivery.url,
            status=status,
            error=error,
        )
