"""Repairs: a forwarding change left unapplied is applied or reverted from its issue."""

from __future__ import annotations

from typing import Any

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .runtime import KalliopeConfigEntry


class UnappliedForwardingFlow(RepairsFlow):
    """Apply the pending changes, or revert them."""

    def __init__(self, entry_id: str) -> None:
        """For the PBX whose change is pending."""
        self._entry_id = entry_id

    def _placeholders(self) -> dict[str, str]:
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        if issue is None or issue.translation_placeholders is None:
            return {}
        return dict(issue.translation_placeholders)

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Offer apply and revert."""
        return self.async_show_menu(
            step_id="init",
            menu_options=["apply", "revert"],
            description_placeholders=self._placeholders(),
        )

    async def async_step_apply(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Put the pending changes into use."""
        return await self._run("apply_changes")

    async def async_step_revert(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        """Drop the pending changes."""
        return await self._run("revert_changes")

    async def _run(self, command: str) -> data_entry_flow.FlowResult:
        entry: KalliopeConfigEntry | None = self.hass.config_entries.async_get_entry(
            self._entry_id
        )
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        client = entry.runtime_data.client
        request = client.apply if command == "apply_changes" else client.revert
        try:
            await entry.runtime_data.forwarding.async_pending_command(command, request)
        except HomeAssistantError:
            return self.async_abort(reason="command_failed")
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The only fixable issue: an unapplied forwarding change."""
    return UnappliedForwardingFlow(str((data or {}).get("entry_id")))
