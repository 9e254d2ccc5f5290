"""Fuzzing the webhook handler: whatever arrives, a 2xx/4xx answer, never a crash.

Bodies, query strings and encodings come from hypothesis; every event the
handler accepts is then applied to a call tracker, which must not fail either.
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, given, settings, strategies as st
from multidict import CIMultiDict

from custom_components.kalliopepbx.api import NOTIFICATION_TEMPLATE, PbxEvent
from custom_components.kalliopepbx.call_tracker import CallTracker
from custom_components.kalliopepbx.webhook_receiver import (
    NotificationReceiver,
    WebhookCredentials,
)

CREDENTIALS = WebhookCredentials("hook", "kalliope-abc123", "s3cret-password")
GOOD_AUTH = "Basic " + b64encode(b"kalliope-abc123:s3cret-password").decode()
EVENT_NAMES = [
    "pbx.call.start",
    "pbx.call.end",
    "pbx.extension.incomingcall",
    "pbx.extension.answercall",
    "pbx.extension.missedcall",
    "pbx.extension.failedcall",
    "pbx.queue.enter",
    "pbx.queue.unservedcall",
]
PARAM_NAMES = [
    "uniqueid",
    "extension",
    "exten",
    "caller_num",
    "called_num",
    "caller_name",
    "duration",
    "queue_id",
    "queue_name",
    "reason",
]


class _Payload:
    """The request body as aiohttp's stream reader hands it out."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self, limit: int = -1) -> bytes:
        return self._body if limit < 0 else self._body[:limit]


def _receiver(accepted: list[PbxEvent]) -> NotificationReceiver:
    entry: Any = SimpleNamespace(title="KalliopePBX Office")
    return NotificationReceiver(None, entry, CREDENTIALS, accepted.append)  # type: ignore[arg-type]


async def _answer(
    receiver: NotificationReceiver, method: str, query: str, body: bytes, auth: str
) -> int:
    headers = CIMultiDict({"Authorization": auth})
    request = make_mocked_request(
        method, f"/api/webhook/hook?{query}", headers=headers, payload=_Payload(body)
    )
    response = await receiver._handle_webhook(None, "hook", request)  # type: ignore[arg-type]
    return response.status


def _template_body(
    name: str, params: dict[str, str], description: str, encoding: str
) -> bytes:
    import json

    rendered = (
        NOTIFICATION_TEMPLATE.replace("%event_id%", "1")
        .replace("%event_name%", name)
        .replace("%event_severity%", "3")
        .replace("%event_timestamp%", "1764640000.0")
        .replace("%call_params[JSON]%", json.dumps(params, ensure_ascii=False))
        .replace("%event_description%", description)
    )
    return rendered.encode(encoding, errors="replace")


BODIES = st.one_of(
    st.binary(max_size=1024),
    st.builds(
        _template_body,
        st.sampled_from(EVENT_NAMES) | st.text(max_size=30),
        st.dictionaries(
            st.sampled_from(PARAM_NAMES) | st.text(max_size=10),
            st.text(max_size=30),
            max_size=8,
        ),
        st.text(max_size=60),
        st.sampled_from(["utf-8", "latin-1", "utf-16"]),
    ),
)
QUERIES = st.one_of(
    st.text(max_size=200),
    st.dictionaries(
        st.sampled_from(["event_name", "event_id", *PARAM_NAMES]) | st.text(max_size=8),
        st.sampled_from(EVENT_NAMES) | st.text(max_size=20),
        max_size=6,
    ).map(urlencode),
)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    method=st.sampled_from(["POST", "GET"]),
    query=QUERIES,
    body=BODIES,
    auth=st.sampled_from([GOOD_AUTH, GOOD_AUTH, "", "Basic !!!", "Bearer x"]),
)
def test_webhook_answers_every_request(
    method: str, query: str, body: bytes, auth: str
) -> None:
    accepted: list[PbxEvent] = []
    status = asyncio.run(_answer(_receiver(accepted), method, query, body, auth))
    if auth != GOOD_AUTH:
        assert status == 401
        assert accepted == []
        return
    assert status in (200, 400, 413)
    assert (status == 200) == bool(accepted)
    tracker = CallTracker(lambda number: number in {"201", "202", "203"})
    for event in accepted:
        tracker.apply(event, 1764640000.0)
        tracker.expire(1764650000.0)
