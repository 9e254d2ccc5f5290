"""A KalliopePBX you can run: the REST API of firmware 3.9.x (and 4.x auth and
CDR), faithful to NetResults' reference, fast at thousands of extensions.

    state = build_scenario(50, auth="v3")
    async with run_simulator(state) as sim:
        ...  # sim.url, sim.port, sim.state

or from a shell: `python -m simulator --extensions 50`.
"""

from __future__ import annotations

from .app import RunningSimulator, create_app, run_simulator
from .scenario import build_scenario
from .state import PbxState
from .tls import make_self_signed_cert, server_ssl_context

__all__ = [
    "PbxState",
    "RunningSimulator",
    "build_scenario",
    "create_app",
    "make_self_signed_cert",
    "run_simulator",
    "server_ssl_context",
]
