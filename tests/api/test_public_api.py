"""The client library stands alone: used through its public names only.

`api/` could be published as its own package, so nothing outside it (the
integration, the simulator, the scripts, the tests outside `tests/api/`)
may reach into its modules, and it may import nothing from Home Assistant.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from custom_components.kalliopepbx import api

ROOT = Path(__file__).resolve().parents[2]
API_DIR = ROOT / "custom_components" / "kalliopepbx" / "api"
API_TESTS = ROOT / "tests" / "api"
PACKAGE = "custom_components.kalliopepbx.api"


def _package_of(path: Path) -> str:
    """The dotted package a source file belongs to, for relative imports."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    parts = _package_of(path).split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _sources_outside_api() -> list[Path]:
    files: list[Path] = []
    for folder in ("custom_components", "simulator", "scripts", "tests"):
        files.extend((ROOT / folder).rglob("*.py"))
    return sorted(
        path
        for path in files
        if API_DIR not in path.parents and API_TESTS not in path.parents
    )


def _internal_uses(path: Path, source: str | None = None) -> Iterator[str]:
    """Every import of, or patch target in, a module inside `api/`."""
    if source is None:
        source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _absolute(node, path)
            if module.startswith(f"{PACKAGE}."):
                yield f"line {node.lineno}: from {module} import ..."
            elif module == PACKAGE:
                # `from .api import client` imports a module, not a public name.
                yield from (
                    f"line {node.lineno}: {alias.name} is not in api.__all__"
                    for alias in node.names
                    if alias.name not in api.__all__
                )
        elif isinstance(node, ast.Import):
            yield from (
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith(f"{PACKAGE}.")
            )
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(f"{PACKAGE}.")
        ):
            # `patch("...api.client.X")` reaches inside as much as an import.
            yield f"line {node.lineno}: {node.value!r}"


def test_the_scan_sees_the_integration_and_the_tests() -> None:
    sources = _sources_outside_api()
    names = {path.relative_to(ROOT).as_posix() for path in sources}
    assert "custom_components/kalliopepbx/config_flow.py" in names
    assert "tests/conftest.py" in names
    assert "simulator/rest.py" in names
    assert not any(name.startswith("tests/api/") for name in names)


@pytest.mark.parametrize(
    "path",
    _sources_outside_api(),
    ids=lambda path: path.relative_to(ROOT).as_posix(),
)
def test_nothing_outside_reaches_into_the_library(path: Path) -> None:
    assert list(_internal_uses(path)) == []


def test_a_reach_inside_is_caught() -> None:
    """The scan itself: each way of reaching inside is reported."""
    source = """\
from .api.auth import md5_hex
from .api import client
from .api import KalliopeClient, md5_hex
import custom_components.kalliopepbx.api.transport
TARGET = "custom_components.kalliopepbx.api.client.KalliopeClient"
"""
    path = ROOT / "custom_components" / "kalliopepbx" / "example.py"
    found = list(_internal_uses(path, source))
    assert [line.split(":")[0] for line in found] == [
        "line 1",
        "line 2",
        "line 4",
        "line 5",
    ]


@pytest.mark.parametrize(
    "path", sorted(API_DIR.glob("*.py")), ids=lambda path: path.name
)
def test_the_library_imports_nothing_from_home_assistant(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # Relative imports must stay inside the package.
            assert node.level <= 1, f"line {node.lineno} leaves the package"
            modules = [node.module or ""] if not node.level else []
        else:
            continue
        for module in modules:
            assert module.split(".")[0] not in ("homeassistant", "custom_components"), (
                f"line {node.lineno}: {module}"
            )


def test_every_exported_name_exists() -> None:
    assert len(set(api.__all__)) == len(api.__all__)
    for name in api.__all__:
        assert getattr(api, name, None) is not None, name


def test_the_readme_lists_every_client_method() -> None:
    """api/README.md is the library's documentation: no method left out."""
    readme = (API_DIR / "README.md").read_text(encoding="utf-8")
    methods = [
        name
        for name in dir(api.KalliopeClient)
        if not name.startswith("_") and callable(getattr(api.KalliopeClient, name))
    ]
    assert len(methods) > 20
    assert [name for name in methods if f"`{name}(" not in readme] == []
