"""What the manifest asks Home Assistant to install."""

from __future__ import annotations

from importlib.metadata import version
import json
from pathlib import Path

from packaging.requirements import Requirement
import pytest

MANIFEST = (
    Path(__file__).parent.parent / "custom_components" / "kalliopepbx" / "manifest.json"
)


def requirements() -> dict[str, Requirement]:
    """The manifest's requirements by package name."""
    raw = json.loads(MANIFEST.read_text(encoding="utf-8"))["requirements"]
    return {(req := Requirement(line)).name: req for line in raw}


@pytest.mark.parametrize(
    "core_pin",
    [
        "0.13.0",  # Home Assistant 2025.4's rest, fritz and others
        "1.0.4",  # Home Assistant 2026.11's
    ],
)
def test_xmltodict_accepts_the_version_core_pins(core_pin: str) -> None:
    """An exact pin that differs from core's makes Home Assistant reinstall at start."""
    assert requirements()["xmltodict"].specifier.contains(core_pin)


def test_installed_xmltodict_is_in_the_declared_range() -> None:
    """The suite runs against a version the manifest admits."""
    assert requirements()["xmltodict"].specifier.contains(version("xmltodict"))
