"""Text from the PBX cannot forge log lines: control characters are escaped."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import (
    printable,
)

from .conftest import load_fixture_bytes

FORGED = "ERROR forged line"


async def test_pbx_error_message_cannot_forge_a_log_line(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A PBX error whose message holds a newline is logged on one line."""
    caplog.set_level(logging.DEBUG)
    runtime = init_integration.runtime_data
    client = runtime.client
    real_send = client._send
    body = load_fixture_bytes("license_error_forged_newline.xml")

    async def send(method: str, path: str, endpoint: str, **kwargs: Any) -> bytes:
        if path.startswith("/license/"):
            return body
        return await real_send(method, path, endpoint, **kwargs)

    with patch.object(client, "_send", send):
        await runtime.system.async_refresh()
        await hass.async_block_till_done()

    logged = [record.getMessage() for record in caplog.records]
    # Logged once, as part of the data being unavailable, and escaped.
    assert len([m for m in logged if "\\n" + FORGED in m]) == 1
    assert not any("\n" + FORGED in message for message in logged)
    assert "\n" + FORGED not in caplog.text


def test_printable_escapes_only_control_characters() -> None:
    assert printable("a\nb\r\x1b[31m\x85\u2028") == "a\\nb\\r\\x1b[31m\\x85\\u2028"
    assert printable("Caffè Città: 12 ms") == "Caffè Città: 12 ms"
