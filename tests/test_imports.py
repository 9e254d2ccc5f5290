"""What loading the integration imports: not the config flow."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).parent.parent


def test_setup_does_not_import_the_config_flow() -> None:
    """Setting up an entry needs neither the flow nor its form plumbing.

    Home Assistant imports the config flow only when a flow starts; the
    integration importing it would load it (and its dependencies) on every
    start. A fresh interpreter shows what the package itself pulls in.
    """
    script = (
        "import sys\n"
        "import custom_components.kalliopepbx\n"
        "loaded = sorted(name for name in sys.modules\n"
        "    if name in ('custom_components.kalliopepbx.config_flow',\n"
        "                'custom_components.kalliopepbx.connection'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == ""
