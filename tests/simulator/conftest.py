"""The simulator's tests talk HTTP to a simulator on 127.0.0.1.

They need no Home Assistant instance, so the suite-wide custom-integrations
fixture (which starts one per test) is replaced here by a no-op; and they need
real sockets, which the Home Assistant plugin blocks unless `socket_enabled`
is requested (connections stay restricted to 127.0.0.1).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No Home Assistant here: the simulator is tested on its own."""


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Let the tests open sockets; the plugin still only allows 127.0.0.1."""
