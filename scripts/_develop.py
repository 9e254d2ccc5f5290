"""Helpers of scripts/develop and scripts/screenshots.

Run with the development venv's Python:

    requirements CONFIG_DIR   print what Home Assistant needs to run CONFIG_DIR
    prepare CONFIG_DIR        before the first start: onboarding needs only the
                              owner, network adapters limited to loopback
    onboard URL               create the owner (admin/admin) if there is none
    wait URL                  wait until Home Assistant answers
    add-entry URL HOST PORT   add the simulated PBX through the real config flow
    live-events URL SIM_URL   turn live call events on (options step) and set up
                              the simulator's notification action and list
    wait-entities URL         wait until the PBX's entities have live states
    device-id URL ENTITY_ID   the device an entity belongs to

Home Assistant is only ever reached on the URL given (127.0.0.1 here).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
import re
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

USERNAME = "admin"
PASSWORD = "admin"  # the documented demo password
OWNER_NAME = "Admin"
DOMAIN = "kalliopepbx"
# Onboarding steps other than creating the owner. Finishing `core_config`
# through the web page would add integrations that go on the internet
# (met, radio_browser, google_translate), so they are marked done up front.
ONBOARDING_STEPS_DONE = ["core_config", "analytics", "integration"]


# --- before Home Assistant starts -------------------------------------------


async def _requirements(config_dir: str) -> list[str]:
    """Requirements of every integration the configuration sets up."""
    from homeassistant import bootstrap, config as conf_util, loader
    from homeassistant.core import HomeAssistant

    # Quiet the warning about custom integrations: this is not a real start.
    logging.basicConfig(level=logging.ERROR)
    hass = HomeAssistant(config_dir)
    loader.async_setup(hass)
    config = await conf_util.async_hass_config_yaml(hass)
    configured = {str(key).partition(" ")[0] for key in config} - {"homeassistant"}
    wanted = (
        configured
        | bootstrap.CORE_INTEGRATIONS
        # `isal` and `sentry` are only set up when configured.
        | (bootstrap.LOGGING_AND_HTTP_DEPS_INTEGRATIONS - {"isal", "sentry"})
        | bootstrap.FRONTEND_INTEGRATIONS
        | bootstrap.DEFAULT_INTEGRATIONS
        | {DOMAIN}
    )
    requirements: set[str] = set()
    seen: set[str] = set()
    todo = sorted(wanted)
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        try:
            integration = await loader.async_get_integration(hass, domain)
        except loader.IntegrationNotFound:
            continue  # e.g. `isal`, `sentry`: only loaded when configured
        requirements.update(integration.requirements)
        todo.extend(integration.dependencies)
        todo.extend(d for d in integration.after_dependencies if d in wanted)
    await hass.async_stop(force=True)
    return sorted(requirements)


def _write_storage(config_dir: Path, key: str, version: int, data: Any) -> None:
    """Write a `.storage` file in the format Home Assistant's Store uses."""
    path = config_dir / ".storage" / key
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": version, "minor_version": 1, "key": key, "data": data}
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def prepare(config_dir: Path) -> None:
    """Set up a new configuration directory; leaves an existing one alone."""
    _write_storage(config_dir, "onboarding", 4, {"done": ONBOARDING_STEPS_DONE})
    # Zeroconf (used by Home Assistant's HTTP client for .local names) then
    # joins no multicast group on the machine's network interfaces.
    _write_storage(config_dir, "core.network", 1, {"configured_adapters": ["lo"]})


# --- talking to the running Home Assistant ----------------------------------


def _request(
    url: str,
    *,
    data: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    token: str | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    headers = {}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        raw = err.read()
        status = err.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait(url: str, timeout: float = 300) -> None:
    """Wait until the HTTP server of Home Assistant answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _ = _request(f"{url}/manifest.json", timeout=5)
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"Home Assistant did not answer on {url} in {timeout:.0f} s")
        time.sleep(1)


def onboard(url: str) -> None:
    """Create the owner through the onboarding API, as the web page would."""
    status, steps = _request(f"{url}/api/onboarding")
    if status != 200 or not isinstance(steps, list):
        return
    if any(step["step"] == "user" and step["done"] for step in steps):
        return
    status, answer = _request(
        f"{url}/api/onboarding/users",
        data={
            "client_id": f"{url}/",
            "name": OWNER_NAME,
            "username": USERNAME,
            "password": PASSWORD,
            "language": "en",
        },
    )
    if status != 200:
        sys.exit(f"Creating the owner failed: HTTP {status} {answer}")
    print(f"Created the owner: username {USERNAME}, password {PASSWORD}")


def login(url: str) -> str:
    """An access token for admin/admin, through the login flow."""
    client_id = f"{url}/"
    status, flow = _request(
        f"{url}/auth/login_flow",
        data={
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{url}/?auth_callback=1",
        },
    )
    if status != 200:
        sys.exit(f"Login failed: HTTP {status} {flow}")
    status, result = _request(
        f"{url}/auth/login_flow/{flow['flow_id']}",
        data={"client_id": client_id, "username": USERNAME, "password": PASSWORD},
    )
    if status != 200 or result.get("type") != "create_entry":
        sys.exit(f"Login as {USERNAME} failed: {result}")
    status, tokens = _request(
        f"{url}/auth/token",
        form={
            "grant_type": "authorization_code",
            "code": result["result"],
            "client_id": client_id,
        },
    )
    if status != 200:
        sys.exit(f"Token exchange failed: HTTP {status} {tokens}")
    return str(tokens["access_token"])


def add_entry(url: str, host: str, port: int) -> None:
    """Add the PBX with the answers the README tells a person to type."""
    token = login(url)
    status, entries = _request(
        f"{url}/api/config/config_entries/entry?domain={DOMAIN}", token=token
    )
    if status == 200 and entries:
        print(f"KalliopePBX is already set up ({entries[0]['title']}).")
        return
    status, step = _request(
        f"{url}/api/config/config_entries/flow",
        data={"handler": DOMAIN, "show_advanced_options": False},
        token=token,
    )
    if status != 200 or step.get("type") != "form":
        sys.exit(f"Starting the KalliopePBX config flow failed: {status} {step}")
    status, result = _request(
        f"{url}/api/config/config_entries/flow/{step['flow_id']}",
        data={
            "host": host,
            "port": port,
            "ssl": False,
            "verify_ssl": True,
            "username": USERNAME,
            "password": PASSWORD,
            "tenant_domain": "default",
        },
        token=token,
    )
    if status != 200 or result.get("type") != "create_entry":
        sys.exit(f"The KalliopePBX config flow did not create an entry: {result}")
    print(f"Added {result['title']} through the config flow.")


def live_events(url: str, sim_url: str) -> None:
    """Turn live call events on as the README says, and point the PBX at them.

    Goes through the options step a person would use, then enters what it
    shows into the simulator's notification action and list.
    """
    token = login(url)
    status, entries = _request(
        f"{url}/api/config/config_entries/entry?domain={DOMAIN}", token=token
    )
    if status != 200 or not entries:
        sys.exit("Add the KalliopePBX entry first.")
    flows = f"{url}/api/config/config_entries/options/flow"
    _, menu = _request(flows, data={"handler": entries[0]["entry_id"]}, token=token)
    _, form = _request(
        f"{flows}/{menu['flow_id']}", data={"next_step_id": "live_events"}, token=token
    )
    shown = form["description_placeholders"]
    _, done = _request(
        f"{flows}/{form['flow_id']}", data={"live_events": True}, token=token
    )
    if done.get("type") != "create_entry":
        sys.exit(f"The live events options step failed: {done}")
    _, configured = _request(f"{sim_url}/_sim/notifications")
    if any(a.get("name") == "Home Assistant" for a in configured.get("actions", [])):
        print("Live call events on; the simulator already sends them.")
        return
    # The simulator sends to loopback only: Home Assistant's own address here.
    path = urllib.parse.urlsplit(shown["url"]).path
    status, action = _request(
        f"{sim_url}/_sim/notifications/actions",
        data={
            "name": "Home Assistant",
            "url": f"{url}{path}",
            "method": shown["method"],
            "auth": "basic",
            "username": shown["username"],
            "password": shown["password"],
            "content": shown["content"],
        },
    )
    if status != 200:
        sys.exit(f"The simulator refused the notification action: {action}")
    events = re.findall(r"`([a-z.]+)`", shown["call_events"] + shown["queue_events"])
    for event in events:
        _request(
            f"{sim_url}/_sim/notifications/list",
            data={"name": event, "event": event, "action": action["id"]},
        )
    print(f"Live call events on: the simulator sends {len(events)} events.")


def _live_kalliope_states(url: str, token: str) -> list[dict[str, Any]]:
    status, entries = _request(
        f"{url}/api/config/config_entries/entry?domain={DOMAIN}", token=token
    )
    if status != 200 or not entries or entries[0]["state"] != "loaded":
        return []
    _, listed = _request(
        f"{url}/api/template",
        data={"template": "{{ integration_entities('" + DOMAIN + "') | tojson }}"},
        token=token,
    )
    # The answer is text; _request already parsed it as JSON.
    entity_ids = set(listed) if isinstance(listed, list) else set()
    _, all_states = _request(f"{url}/api/states", token=token)
    return [s for s in all_states or [] if s["entity_id"] in entity_ids]


def wait_entities(url: str, timeout: float = 120) -> None:
    """Wait until the entry is loaded and its sensors show PBX data."""
    token = login(url)
    deadline = time.monotonic() + timeout
    while True:
        states = _live_kalliope_states(url, token)
        live = [s for s in states if s["state"] not in ("unavailable", "unknown")]
        if states and any(
            s["entity_id"].endswith("_registered_extensions") for s in live
        ):
            print(f"KalliopePBX is live: {len(live)} of {len(states)} entities.")
            return
        if time.monotonic() > deadline:
            sys.exit("KalliopePBX entities did not become live; see the log.")
        time.sleep(2)


def device_id(url: str, entity_id: str) -> None:
    """Print the device id of an entity (for device page URLs)."""
    token = login(url)
    status, answer = _request(
        f"{url}/api/template",
        data={"template": "{{ device_id('" + entity_id + "') }}"},
        token=token,
    )
    if status != 200 or not answer or answer == "None":
        sys.exit(f"No device for {entity_id}")
    print(answer)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    command, args = argv[0], argv[1:]
    if command == "requirements":
        print("\n".join(asyncio.run(_requirements(args[0]))))
    elif command == "prepare":
        prepare(Path(args[0]))
    elif command == "wait":
        wait(args[0])
    elif command == "onboard":
        onboard(args[0])
    elif command == "add-entry":
        add_entry(args[0], args[1], int(args[2]))
    elif command == "live-events":
        live_events(args[0], args[1])
    elif command == "wait-entities":
        wait_entities(args[0])
    elif command == "device-id":
        device_id(args[0], args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
