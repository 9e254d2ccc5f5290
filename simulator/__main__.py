"""`python -m simulator`: serve a simulated KalliopePBX on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile

from .app import run_simulator
from .scenario import MAX_EXTENSIONS, build_scenario
from .state import LICENSE_STATES, PbxState
from .tls import make_self_signed_cert, server_ssl_context


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="A simulated KalliopePBX REST API on 127.0.0.1.",
    )
    parser.add_argument(
        "--extensions",
        type=int,
        default=50,
        help=f"number of extensions (0..{MAX_EXTENSIONS})",
    )
    parser.add_argument(
        "--auth",
        choices=("v3", "v4"),
        default="v3",
        help="3.x Basic or 4.x X-authenticate",
    )
    parser.add_argument("--password", default="admin", help="the web admin password")
    parser.add_argument("--domain", default="default", help="tenant domain (4.x)")
    parser.add_argument(
        "--port", type=int, default=8080, help="TCP port (0: any free port)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every REST answer"
    )
    parser.add_argument("--scenario", choices=("default", "demo"), default="default")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--license", choices=LICENSE_STATES, default="ACTIVE")
    parser.add_argument(
        "--tls", action="store_true", help="HTTPS with a fresh self-signed certificate"
    )
    parser.add_argument(
        "--clock-offset", type=float, default=0.0, help="seconds added to the PBX clock"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.extensions <= MAX_EXTENSIONS:
        parser.error(f"--extensions must be between 0 and {MAX_EXTENSIONS}")
    if args.latency_ms < 0:
        parser.error("--latency-ms must not be negative")
    return args


def banner(state: PbxState, url: str, port: int, cert: str | None) -> str:
    lines = [
        f"KalliopePBX simulator ({state.summary()['extensions']} extensions, "
        f"firmware {state.firmware_primary}, licence {state.license_status})",
        f"  REST API:     {url}/rest/",
        f"  control API:  {url}/_sim/  (e.g. curl {url}/_sim/state)",
    ]
    if state.auth == "v3":
        lines += [
            "  auth:         3.x HTTP Basic, user admin, password = md5(admin password)",
            f"  try:          curl -u admin:{state.api_password} {url}/rest/users/registrations/",
        ]
    else:
        lines += [
            f"  auth:         4.x X-authenticate (RestApiUsernameToken), domain {state.domain!r}",
            f"  salt:         curl {url}/rest/salt/{state.domain}",
        ]
    lines += [
        "  Home Assistant: host 127.0.0.1, "
        f"port {port}, password {state.password!r}"
        + (", HTTPS (self-signed)" if cert else ""),
    ]
    if cert:
        lines.append(f"  certificate:  {cert}")
    lines.append("Ctrl-C stops the simulator.")
    return "\n".join(lines)


async def serve(args: argparse.Namespace) -> None:
    state = build_scenario(
        args.extensions,
        auth=args.auth,
        password=args.password,
        domain=args.domain,
        seed=args.seed,
        scenario=args.scenario,
        license_status=args.license,
    )
    state.set_latency(args.latency_ms)
    state.set_clock_offset(args.clock_offset)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="kalliopepbx-sim-") as tmp:
        ssl_context = None
        cert_path = None
        if args.tls:
            cert, key = make_self_signed_cert(tmp)
            ssl_context = server_ssl_context(cert, key)
            cert_path = str(cert)
        async with run_simulator(state, "127.0.0.1", args.port, ssl_context) as sim:
            print(banner(state, sim.url, sim.port, cert_path), flush=True)
            await stop.wait()
    print("Simulator stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
