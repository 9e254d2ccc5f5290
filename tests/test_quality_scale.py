"""quality_scale.yaml: every rule of the Integration Quality Scale, with a status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from custom_components.kalliopepbx.const import DOMAIN

FILE = (
    Path(__file__).parent.parent / "custom_components" / DOMAIN / "quality_scale.yaml"
)

# The rules of hassfest's quality scale validation, Bronze to Platinum.
RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}


def load_rules() -> dict[str, Any]:
    """The `rules` mapping of quality_scale.yaml."""
    rules: dict[str, Any] = yaml.safe_load(FILE.read_text(encoding="utf-8"))["rules"]
    return rules


def test_every_rule_has_a_status() -> None:
    """All rules, no unknown ones; done/exempt/todo; exempt and todo say why."""
    rules = load_rules()
    assert set(rules) == {rule for tier in RULES.values() for rule in tier}
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in ("done", "exempt", "todo"), name
        if status != "done":
            assert isinstance(rule, dict), f"{name}: {status} needs a comment"
            assert rule.get("comment"), f"{name}: {status} needs a comment"
