"""Screenshots of the running demo for the README (see scripts/screenshots).

Drives the Home Assistant frontend of scripts/develop in headless Chromium:
logs in as admin/admin, opens the PBX device page, an extension's device page,
the example dashboard, the config flow's form, the live call events options
step and an extension's device during a call (placed through the simulator),
waits for live values and saves PNGs.

The browser reaches 127.0.0.1 only: every other request is refused, except
the integration's brand images, which are answered from brand/ here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import shutil
import sys
import tempfile
from urllib.parse import urlsplit

from _develop import DOMAIN, PASSWORD, USERNAME, _request, login
from playwright.sync_api import (
    Page,
    Route,
    TimeoutError as PlaywrightTimeoutError,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parent.parent
BRAND = ROOT / "brand"

PBX_ENTITY = "sensor.kalliopepbx_127_0_0_1_8089_registered_extensions"
EXTENSION_ENTITY = "sensor.alessandro_romano_forwarding"

# (file name, path or device entity, buttons or menu entries to press first,
#  text that shows the data is live, viewport height)
SHOTS: tuple[tuple[str, str, tuple[str, ...], str, int], ...] = (
    ("pbx-device.png", PBX_ENTITY, (), "Registered extensions", 1320),
    ("extension-device.png", EXTENSION_ENTITY, (), "Call forwarding", 1250),
    ("dashboard.png", "/kalliope-pbx/switchboard", (), "Phones online", 1000),
    # The config flow's form, as "Add integration" opens it.
    (
        "config-flow.png",
        f"/config/integrations/dashboard/add?domain={DOMAIN}",
        ("OK",),
        "Tenant domain",
        1000,
    ),
    # The options step with what to paste on the PBX.
    (
        "live-events-options.png",
        f"/config/integrations/integration/{DOMAIN}",
        ("Configure", "Live call events"),
        "Request content",
        1250,
    ),
    # An extension's device while a call placed through the simulator lasts.
    ("extension-call.png", EXTENSION_ENTITY, (), "In a call", 1400),
)


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    sys.exit("No Chromium found: install it (Debian: apt-get install chromium).")


def route(route: Route) -> None:
    """Serve 127.0.0.1, our own brand images; refuse everything else."""
    url = urlsplit(route.request.url)
    if url.hostname == "127.0.0.1" or url.scheme in ("data", "blob"):
        route.continue_()
        return
    if url.hostname == "brands.home-assistant.io" and f"/{DOMAIN}/" in url.path:
        image = BRAND / ("logo.png" if "logo" in url.path else "icon.png")
        route.fulfill(path=image, content_type="image/png")
        return
    route.abort()


def device_path(url: str, token: str, entity_id: str) -> str:
    status, device_id = _request(
        f"{url}/api/template",
        data={"template": "{{ device_id('" + entity_id + "') }}"},
        token=token,
    )
    if status != 200 or not device_id or device_id == "None":
        sys.exit(f"No device for {entity_id}: is the demo PBX added?")
    return f"/config/devices/device/{device_id}"


def place_call(url: str, sim_url: str, token: str, entity_id: str) -> None:
    """An outside caller talking to the extension of `entity_id` for a while."""
    _, model = _request(
        f"{url}/api/template",
        data={"template": "{{ device_attr(device_id('" + entity_id + "'), 'model') }}"},
        token=token,
    )
    exten = str(model).rsplit(" ", 1)[-1]
    status, answer = _request(
        f"{sim_url}/_sim/call",
        data={
            "from": "+390612345678",
            "to": exten,
            "outcome": "answered",
            "caller_name": "Studio Bianchi",
            "ring_time": 1,
            "talk_time": 120,
        },
    )
    if status != 200:
        sys.exit(f"The simulator did not place the call: {answer}")


def log_in(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("input[name='username']").fill(USERNAME)
    page.locator("input[name='password']").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/**", timeout=30_000)
    page.locator("home-assistant").wait_for(timeout=30_000)
    page.locator("ha-sidebar").wait_for(timeout=30_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8123")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--sim-url", default="http://127.0.0.1:8089")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    token = login(url)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=find_chromium(),
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            ],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 1000},
            locale="en-GB",
            timezone_id="Europe/Rome",
            color_scheme="light",
        )
        context.route("**/*", route)
        page = context.new_page()
        log_in(page, url)
        for name, target, presses, live_text, height in SHOTS:
            path = target if target.startswith("/") else device_path(url, token, target)
            if name == "extension-call.png":
                place_call(url, args.sim_url, token, target)
            page.set_viewport_size({"width": 1280, "height": height})
            page.goto(f"{url}{path}")
            for press in presses:
                page.get_by_text(press, exact=True).first.click(timeout=30_000)
            try:
                page.get_by_text(live_text).first.wait_for(timeout=30_000)
            except PlaywrightTimeoutError:
                failed = Path(tempfile.gettempdir()) / f"failed-{name}"
                page.screenshot(path=failed)
                sys.exit(f"{path} did not show {live_text!r}; see {failed}")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)  # icons and state colours settle
            page.screenshot(path=out / name)
            print(f"Saved {(out / name).relative_to(ROOT)}")
        browser.close()


if __name__ == "__main__":
    main()
