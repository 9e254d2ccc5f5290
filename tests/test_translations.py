"""Translations and icons: every key the code uses exists, and the files agree.

Keys are collected from the code itself (entity descriptions, and a scan of
the source for `translation_key=`, config flow errors, aborts and steps), so
a key added in code without its text fails here. The checks return lists of
problems; the last tests prove they notice a removed key.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
import copy
import importlib
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
import homeassistant.helpers.event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.kalliopepbx import PLATFORMS
from custom_components.kalliopepbx.const import DOMAIN
from custom_components.kalliopepbx.errors import ERROR_KEYS

from .conftest import PBX_ID, open_options

INTEGRATION = Path(__file__).parent.parent / "custom_components" / DOMAIN
CORE_STRINGS = Path(homeassistant.helpers.event.__file__).parent.parent / "strings.json"
# Aborts Home Assistant's flow helpers raise on our behalf.
IMPLIED_ABORTS = {"already_configured", "reauth_successful", "reconfigure_successful"}
_REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")

type Json = dict[str, Any]


def load_json(path: Path) -> Json:
    """A JSON file of the integration."""
    data: Json = json.loads(path.read_text(encoding="utf-8"))
    return data


STRINGS = load_json(INTEGRATION / "strings.json")
EN = load_json(INTEGRATION / "translations" / "en.json")
IT = load_json(INTEGRATION / "translations" / "it.json")
ICONS = load_json(INTEGRATION / "icons.json")
SERVICES: Json = yaml.safe_load((INTEGRATION / "services.yaml").read_text())


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": "x"}}` → `{"a.b": "x"}`."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def lookup(data: Mapping[str, Any], *path: str) -> Any:
    """A nested value, or None."""
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def resolve_references(strings: Json) -> Json:
    """Replace `[%key:…%]` as Home Assistant does when it builds translations."""
    core = load_json(CORE_STRINGS)

    def target(reference: str) -> str:
        parts = reference.split("::")
        if parts[0] == "component" and parts[1] == DOMAIN:
            value = lookup(strings, *parts[2:])
        elif parts[0] == "component":
            raise AssertionError(f"reference to another integration: {reference}")
        else:
            value = lookup(core, *parts)
        assert isinstance(value, str), f"unresolved reference {reference}"
        return resolve_text(value)

    def resolve_text(text: str) -> str:
        return _REFERENCE.sub(lambda match: target(match.group(1)), text)

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {key: walk(value) for key, value in node.items()}
        return resolve_text(node) if isinstance(node, str) else node

    resolved: Json = walk(strings)
    return resolved


# ---------------------------------------------------------------- keys in code


# Modules describing entities of several platforms: the description's class says which.
SHARED_ENTITY_MODULES = ("call_entities", "callgroup_entities", "backups")


def entity_descriptions() -> Iterator[tuple[str, EntityDescription]]:
    """Every entity description of every platform module."""
    seen: set[int] = set()
    for platform in PLATFORMS:
        module = importlib.import_module(f"custom_components.{DOMAIN}.{platform}")
        for item in _descriptions_in(module, seen):
            yield str(platform), item
    for name in SHARED_ENTITY_MODULES:
        module = importlib.import_module(f"custom_components.{DOMAIN}.{name}")
        for item in _descriptions_in(module, seen):
            yield _platform_of(item), item


def _descriptions_in(module: object, seen: set[int]) -> Iterator[EntityDescription]:
    for value in vars(module).values():
        for item in value if isinstance(value, tuple) else (value,):
            if _is_description(item) and id(item) not in seen:
                seen.add(id(item))
                yield item


def _platform_of(description: EntityDescription) -> str:
    names = [cls.__name__ for cls in type(description).__mro__]
    for platform in PLATFORMS:
        camel = "".join(part.title() for part in str(platform).split("_"))
        if f"{camel}EntityDescription" in names:
            return str(platform)
    raise AssertionError(f"{description.key}: no platform")


def _is_description(item: object) -> bool:
    """An entity description (Home Assistant builds frozen and thawed variants
    of the class, so `isinstance` is not reliable)."""
    return any(cls.__name__ == "EntityDescription" for cls in type(item).__mro__)


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, ast.FunctionDef]:
    """The innermost function of every node."""
    parents: dict[ast.AST, ast.FunctionDef] = {}

    def visit(node: ast.AST, function: ast.FunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                child
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                else function
            )
            if inner is not None:
                parents[child] = inner  # type: ignore[assignment]
            visit(child, inner)  # type: ignore[arg-type]

    visit(tree, None)
    return parents


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _strings_of(
    value: ast.expr, node: ast.AST, functions: Mapping[ast.AST, Any]
) -> set[str] | None:
    """String values a `translation_key=` argument can take (None: dynamic)."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return {value.value}
    if not isinstance(value, ast.Name):
        return None
    function = functions.get(node)
    if function is None:
        return None
    found = {
        assign.value.value
        for assign in ast.walk(function)
        if isinstance(assign, ast.Assign)
        and isinstance(assign.value, ast.Constant)
        and isinstance(assign.value.value, str)
        and any(
            isinstance(target, ast.Name) and target.id == value.id
            for target in assign.targets
        )
    }
    parameters = [arg.arg for arg in function.args.args]
    if value.id in parameters:  # a helper: the key comes from its callers
        position = parameters.index(value.id)
        # Callers anywhere in the integration: helpers are shared by modules.
        calls = (
            node
            for path in sorted(INTEGRATION.glob("*.py"))
            for node in ast.walk(_parse(path))
        )
        for call in calls:
            if isinstance(call, ast.Call) and _call_name(call) == function.name:
                if len(call.args) > position:
                    argument = call.args[position]
                    if isinstance(argument, ast.Constant):
                        found.add(str(argument.value))
                found.update(
                    str(keyword.value.value)
                    for keyword in call.keywords
                    if keyword.arg == value.id
                    and isinstance(keyword.value, ast.Constant)
                )
    return found or None


def translation_keys_in_source() -> dict[str, set[str]]:
    """`translation_key=` uses outside entity descriptions, by strings section."""
    keys: dict[str, set[str]] = {"exceptions": set(), "issues": set()}
    for path in sorted(INTEGRATION.glob("*.py")):
        tree = _parse(path)
        functions = _enclosing_functions(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            # change_notes.py only rebuilds notes saved with a key from here.
            if _call_name(node) == "ChangeNote" and path.name != "change_notes.py":
                keys["exceptions"].add(_change_note_key(node, path))
                continue
            keyword = next(
                (k for k in node.keywords if k.arg == "translation_key"), None
            )
            if keyword is None:
                continue
            name = _call_name(node)
            if name.endswith("Description"):
                continue  # checked through the imported descriptions
            values = _strings_of(keyword.value, node, functions)
            if values is None and path.name == "errors.py":
                # The keys of the error table, read from the table itself.
                values = {row.action for row in ERROR_KEYS}
            elif values is None and path.name == "polling.py":
                values = {row.polling for row in ERROR_KEYS}
            where = f"{path.name}:{node.lineno}"
            assert values, f"{where}: translation_key that cannot be followed"
            if name == "async_create_issue":
                keys["issues"] |= values
            elif any(k.arg == "translation_domain" for k in node.keywords):
                keys["exceptions"] |= values
            else:
                raise AssertionError(f"{where}: unknown use of translation_key")
    return keys


def _change_note_key(call: ast.Call, path: Path) -> str:
    """The key of a `ChangeNote(...)`: its texts are under `exceptions`."""
    key = call.args[0] if call.args else None
    assert isinstance(key, ast.Constant), (
        f"{path.name}:{call.lineno}: ChangeNote key that cannot be followed"
    )
    return str(key.value)


def config_flow_keys() -> dict[str, set[str]]:
    """Errors, aborts and steps of the config and options flows."""
    keys: dict[str, set[str]] = {
        "config.error": set(),
        "config.abort": set(IMPLIED_ABORTS),
        "config.step": set(),
        "options.error": set(),
        "options.step": set(),
    }
    tree = _parse(INTEGRATION / "config_flow.py")
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        section = "options" if "Options" in cls.name else "config"
        for node in ast.walk(cls):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg in ("reason", "step_id") and isinstance(
                        keyword.value, ast.Constant
                    ):
                        kind = "abort" if keyword.arg == "reason" else "step"
                        keys[f"{section}.{kind}"].add(keyword.value.value)
            keys[f"{section}.error"] |= _error_values(node)
    errors_for = next(
        node
        for node in _parse(INTEGRATION / "connection.py").body
        if isinstance(node, ast.FunctionDef) and node.name == "errors_for"
    )
    keys["config.error"] |= {row.form for row in ERROR_KEYS}
    for node in ast.walk(errors_for):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            errors = node.value.elts[0]
            assert isinstance(errors, ast.Dict)
            keys["config.error"] |= {
                value.value
                for value in errors.values
                if isinstance(value, ast.Constant)
            }
    return keys


def _error_values(node: ast.AST) -> set[str]:
    """Strings assigned to `errors = {...}` or `errors[...] = ...`."""
    if not isinstance(node, ast.Assign):
        return set()
    target = node.targets[0]
    is_errors = (isinstance(target, ast.Name) and target.id == "errors") or (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and target.value.id == "errors"
    )
    if not is_errors:
        return set()
    if isinstance(node.value, ast.Constant):
        return {node.value.value}
    if isinstance(node.value, ast.Dict):
        return {v.value for v in node.value.values if isinstance(v, ast.Constant)}
    return set()


# ---------------------------------------------------------------- checks


def entity_problems(strings: Json) -> list[str]:
    """Names, enum states and event types of every entity description."""
    problems = []
    used: set[tuple[str, str]] = set()
    for platform, description in entity_descriptions():
        key = description.translation_key
        if key is None:
            problems.append(f"{platform} {description.key}: no translation_key")
            continue
        used.add((platform, key))
        entity = lookup(strings, "entity", platform, key)
        if not isinstance(lookup(entity or {}, "name"), str):
            problems.append(f"entity.{platform}.{key}.name missing")
            continue
        if getattr(description, "device_class", None) == SensorDeviceClass.ENUM:
            problems.extend(
                f"entity.{platform}.{key}.state.{option} missing"
                for option in getattr(description, "options", None) or ()
                if lookup(entity, "state", option) is None
            )
        event_type_states = ("state_attributes", "event_type", "state")
        problems.extend(
            f"entity.{platform}.{key}.{'.'.join(event_type_states)}.{event_type}"
            " missing"
            for event_type in getattr(description, "event_types", None) or ()
            if lookup(entity, *event_type_states, event_type) is None
        )
    problems.extend(
        f"entity.{platform}.{key} is not used by any entity"
        for platform, entities in strings.get("entity", {}).items()
        for key in entities
        if (platform, key) not in used
    )
    return problems


def source_problems(strings: Json) -> list[str]:
    """Exceptions and repair issues raised by the code."""
    keys = translation_keys_in_source()
    problems = [
        f"exceptions.{key}.message missing"
        for key in sorted(keys["exceptions"])
        if not isinstance(lookup(strings, "exceptions", key, "message"), str)
    ]
    for key in sorted(keys["issues"]):
        problems.extend(
            f"issues.{key}.{part} missing"
            for part in ("title", "description")
            if not isinstance(lookup(strings, "issues", key, part), str)
        )
    problems.extend(
        f"exceptions.{key} is not raised anywhere"
        for key in strings.get("exceptions", {})
        if key not in keys["exceptions"]
    )
    return problems


def config_flow_problems(strings: Json) -> list[str]:
    """Every error, abort and step of the flows has its text."""
    problems = []
    for section, keys in config_flow_keys().items():
        top, kind = section.split(".")
        for key in sorted(keys):
            node = lookup(strings, top, kind, key)
            if node is None or (kind != "step" and not isinstance(node, str)):
                problems.append(f"{section}.{key} missing")
    return problems


def services_problems(strings: Json) -> list[str]:
    """Every action, field and selector option of services.yaml has its text."""
    problems = []
    for service, spec in SERVICES.items():
        problems.extend(
            f"services.{service}.{part} missing"
            for part in ("name", "description")
            if not isinstance(lookup(strings, "services", service, part), str)
        )
        for field, field_spec in (spec or {}).get("fields", {}).items():
            problems.extend(
                f"services.{service}.fields.{field}.{part} missing"
                for part in ("name", "description")
                if not isinstance(
                    lookup(strings, "services", service, "fields", field, part), str
                )
            )
            select = lookup(field_spec, "selector", "select") or {}
            if key := select.get("translation_key"):
                problems.extend(
                    f"selector.{key}.options.{option} missing"
                    for option in select.get("options", ())
                    if lookup(strings, "selector", key, "options", option) is None
                )
    problems.extend(
        f"services.{service} is not in services.yaml"
        for service in strings.get("services", {})
        if service not in SERVICES
    )
    return problems


def all_problems(strings: Json) -> list[str]:
    """Everything the code needs from strings.json."""
    return [
        *entity_problems(strings),
        *source_problems(strings),
        *config_flow_problems(strings),
        *services_problems(strings),
    ]


def key_set_problems(reference: Json, translation: Json, name: str) -> list[str]:
    """Same keys, and the same placeholders in every text."""
    flat_reference, flat_translation = flatten(reference), flatten(translation)
    problems = [
        f"{name}: {key} missing" for key in flat_reference.keys() - flat_translation
    ]
    problems.extend(
        f"{name}: {key} is not in en.json"
        for key in flat_translation.keys() - flat_reference
    )
    for key in flat_reference.keys() & flat_translation.keys():
        expected = set(_PLACEHOLDER.findall(str(flat_reference[key])))
        actual = set(_PLACEHOLDER.findall(str(flat_translation[key])))
        if expected != actual:
            problems.append(f"{name}: {key} has placeholders {actual}, not {expected}")
        if not str(flat_translation[key]).strip():
            problems.append(f"{name}: {key} is empty")
    return sorted(problems)


def icon_problems(icons: Json) -> list[str]:
    """Icons exist for every entity and action, and only for those."""
    problems = []
    states: dict[tuple[str, str], set[str] | None] = {}
    for platform, description in entity_descriptions():
        key = description.translation_key or description.key
        options = getattr(description, "options", None)
        states[(platform, key)] = (
            set(options)
            if options
            else {"on", "off"}
            if platform in ("binary_sensor", "switch")
            else None
        )
    for (platform, key), allowed in states.items():
        icon = lookup(icons, "entity", platform, key)
        if not isinstance(lookup(icon or {}, "default"), str):
            problems.append(f"entity.{platform}.{key}.default icon missing")
            continue
        problems.extend(
            f"entity.{platform}.{key}.state.{state} is no state"
            for state in icon.get("state", {})
            if allowed is None or state not in allowed
        )
    problems.extend(
        f"entity.{platform}.{key} has an icon but no entity"
        for platform, entities in icons.get("entity", {}).items()
        for key in entities
        if (platform, key) not in states
    )
    service_icons = set(icons.get("services", {}))
    problems.extend(
        f"services.{s} icon missing" for s in SERVICES.keys() - service_icons
    )
    problems.extend(
        f"services.{s} is no action" for s in service_icons - SERVICES.keys()
    )
    return problems


# ---------------------------------------------------------------- tests


def test_strings_cover_the_code() -> None:
    """Every key the code uses has its English text in strings.json."""
    assert all_problems(STRINGS) == []


def test_en_is_strings() -> None:
    """translations/en.json is strings.json with references resolved."""
    assert resolve_references(STRINGS) == EN


def test_it_has_the_same_keys_as_en() -> None:
    """translations/it.json translates every text, nothing more, same placeholders."""
    assert key_set_problems(EN, IT, "it.json") == []


def test_icons_match_entities_and_actions() -> None:
    """icons.json has an icon per entity and action, and only those."""
    assert icon_problems(ICONS) == []


async def test_flow_forms_have_labels(hass: HomeAssistant) -> None:
    """Every field of every form has a label and a description."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PBX_ID,
        data={
            "host": "127.0.0.1",
            "port": 8080,
            "ssl": False,
            "verify_ssl": True,
            "username": "admin",
            "tenant_domain": "default",
            "auth": {"scheme": "v3", "username": "admin", "password_md5": "x"},
            "pbx_id": PBX_ID,
        },
    )
    entry.add_to_hass(hass)
    forms = [
        (
            "config",
            await hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_USER}
            ),
        ),
        ("config", await entry.start_reauth_flow(hass)),
        (
            "config",
            await hass.config_entries.flow.async_init(
                DOMAIN,
                context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id},
            ),
        ),
        ("options", await open_options(hass, entry.entry_id)),
        ("options", await open_options(hass, entry.entry_id, "live_events")),
    ]
    problems = [
        f"{section}.step.{form['step_id']}.{part}.{marker} missing"
        for section, form in forms
        for marker in form["data_schema"].schema
        for part in ("data", "data_description")
        if not isinstance(
            lookup(STRINGS, section, "step", form["step_id"], part, str(marker)), str
        )
    ]
    assert problems == []
    assert len(forms) == 5


def remove(data: Json, path: str) -> Json:
    """A deep copy without one key."""
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    del node[last]
    return changed


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("entity.sensor.rtt", "entity.sensor.rtt.name missing"),
        (
            "entity.sensor.license_status.state.expired",
            "entity.sensor.license_status.state.expired missing",
        ),
        (
            "entity.event.registration.state_attributes.event_type.state.registered",
            "entity.event.registration.state_attributes.event_type.state.registered"
            " missing",
        ),
        ("exceptions.cannot_connect", "exceptions.cannot_connect.message missing"),
        ("exceptions.invalid_input", "exceptions.invalid_input.message missing"),
        ("exceptions.entry_not_found", "exceptions.entry_not_found.message missing"),
        (
            "exceptions.change_callgroup_out",
            "exceptions.change_callgroup_out.message missing",
        ),
        ("issues.clock_skew.description", "issues.clock_skew.description missing"),
        ("config.error.invalid_host", "config.error.invalid_host missing"),
        ("config.abort.wrong_pbx", "config.abort.wrong_pbx missing"),
        ("config.abort.reauth_successful", "config.abort.reauth_successful missing"),
        (
            "options.error.invalid_extension_filter",
            "options.error.invalid_extension_filter missing",
        ),
        (
            "services.click2call.fields.number",
            "services.click2call.fields.number.name missing",
        ),
        (
            "selector.forwarding_type.options.hangup",
            "selector.forwarding_type.options.hangup missing",
        ),
    ],
)
def test_a_missing_key_is_noticed(path: str, expected: str) -> None:
    """The checks above fail when a key the code uses is taken away."""
    assert expected in all_problems(remove(STRINGS, path))


def test_a_missing_italian_key_is_noticed() -> None:
    """A text missing from it.json, or one with a lost placeholder, fails."""
    assert key_set_problems(EN, remove(IT, "config.error.clock_skew"), "it.json") == [
        "it.json: config.error.clock_skew missing"
    ]
    changed = copy.deepcopy(IT)
    changed["issues"]["clock_skew"]["title"] = "Orologio sbagliato"
    assert key_set_problems(EN, changed, "it.json") == [
        "it.json: issues.clock_skew.title has placeholders set(), not {'title'}"
    ]


def test_a_stale_icon_is_noticed() -> None:
    """An icon without an entity, or a missing one, fails."""
    assert icon_problems(remove(ICONS, "entity.sensor.rtt")) == [
        "entity.sensor.rtt.default icon missing"
    ]
    changed = copy.deepcopy(ICONS)
    changed["entity"]["sensor"]["gone"] = {"default": "mdi:ghost"}
    assert icon_problems(changed) == ["entity.sensor.gone has an icon but no entity"]


def test_references_are_resolved() -> None:
    """A `[%key:…%]` reference resolves to the text it points to."""
    strings = copy.deepcopy(STRINGS)
    strings["config"]["step"]["reconfigure"]["data"]["host"] = (
        "[%key:component::kalliopepbx::config::step::user::data::host%]"
    )
    strings["config"]["abort"]["already_configured"] = (
        "[%key:common::config_flow::abort::already_configured_device%]"
    )
    resolved = resolve_references(strings)
    assert resolved["config"]["step"]["reconfigure"]["data"]["host"] == "Host"
    assert resolved["config"]["abort"]["already_configured"] == (
        "Device is already configured"
    )
