"""Shared fixtures: custom integrations on, and fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture_bytes(name: str) -> bytes:
    """A fixture file's raw bytes (BOM and CRLF included)."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/kalliopepbx in every test."""
