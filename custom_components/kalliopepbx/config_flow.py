"""Config flow for KalliopePBX: add, re-authenticate, reconfigure, options."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SSL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .api import KalliopeError, credentials_from_dict, md5_hex
from .compat import OptionsFlowBase
from .connection import (
    AuthDowngradeError,
    CannotConnectError,
    SaltUnavailableError,
    async_connect,
    errors_for,
    parse_target,
    speaks_v4,
    target_of,
)
from .const import (
    CONF_ALLOWED_NUMBERS,
    CONF_AUTH,
    CONF_BACKUPS_TO_KEEP,
    CONF_CDR_PRIVACY_MD5,
    CONF_CDR_PRIVACY_PASSWORD,
    CONF_EXTENSIONS,
    CONF_LIVE_EVENTS,
    CONF_PBX_ID,
    CONF_TENANT_DOMAIN,
    CONF_VOICE_FORWARDING_WITHOUT_USER,
    CONF_VOICEMAIL_SENSORS,
    DEFAULT_BACKUPS_TO_KEEP,
    DEFAULT_TENANT_DOMAIN,
    DEFAULT_USERNAME,
    DOMAIN,
    MAX_BACKUPS_TO_KEEP,
)
from .extension_filter import parse_extension_filter
from .live_setup import live_events_instructions
from .phone_numbers import AllowedNumbers, SlowPatternError

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry

_LOGGER = logging.getLogger(__name__)

CONF_SERIAL_NUMBER = "serial_number"

_BACKUPS_TO_KEEP_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=1, max=MAX_BACKUPS_TO_KEEP, mode=NumberSelectorMode.BOX)
)
_PORT_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
)
_PASSWORD_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)


def _connection_schema(defaults: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    port = defaults.get(CONF_PORT)
    return {
        vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED)): str,
        vol.Optional(
            CONF_PORT,
            description={"suggested_value": port} if port else None,
        ): _PORT_SELECTOR,
        vol.Required(
            CONF_SSL, default=defaults.get(CONF_SSL, False)
        ): BooleanSelector(),
        vol.Required(
            CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)
        ): BooleanSelector(),
    }


class KalliopeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a KalliopePBX."""

    VERSION = 1
    MINOR_VERSION = 1

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the PBX is and for its admin password."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            try:
                target = parse_target(user_input)
                self._async_abort_entries_match(
                    {CONF_HOST: target.host, CONF_PORT: target.port}
                )
                domain = user_input.get(CONF_TENANT_DOMAIN) or DEFAULT_TENANT_DOMAIN
                username = user_input.get(CONF_USERNAME) or DEFAULT_USERNAME
                result = await async_connect(
                    self.hass,
                    target,
                    domain=domain,
                    username=username,
                    password=user_input[CONF_PASSWORD],
                )
            except (CannotConnectError, SaltUnavailableError, KalliopeError) as err:
                errors, placeholders = errors_for(err)
            except AbortFlow:
                raise  # already configured: not an unexpected error
            except Exception:
                _LOGGER.exception("Unexpected error while adding a PBX")
                errors = {"base": "unknown"}
            else:
                pbx_id = result.serial_number or target.unique_id
                await self.async_set_unique_id(pbx_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=target.title,
                    data={
                        **target.as_entry_data(),
                        CONF_USERNAME: username,
                        CONF_TENANT_DOMAIN: domain,
                        CONF_AUTH: result.credentials.as_dict(),
                        CONF_PBX_ID: pbx_id,
                        CONF_SERIAL_NUMBER: result.serial_number,
                    },
                )
        defaults = user_input or {}
        schema = vol.Schema(
            {
                **_connection_schema(defaults),
                vol.Required(
                    CONF_USERNAME, default=defaults.get(CONF_USERNAME, DEFAULT_USERNAME)
                ): str,
                vol.Required(CONF_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(
                    CONF_TENANT_DOMAIN,
                    default=defaults.get(CONF_TENANT_DOMAIN, DEFAULT_TENANT_DOMAIN),
                ): str,
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The PBX refused our credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the admin password again."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"title": entry.title}
        if user_input is not None:
            try:
                result = await async_connect(
                    self.hass,
                    target_of(entry.data),
                    domain=entry.data[CONF_TENANT_DOMAIN],
                    username=entry.data[CONF_USERNAME],
                    password=user_input[CONF_PASSWORD],
                    refuse_v3=speaks_v4(entry.data),
                )
            except (AuthDowngradeError, SaltUnavailableError, KalliopeError) as err:
                errors, extra = errors_for(err)
                placeholders.update(extra)
            except Exception:
                _LOGGER.exception("Unexpected error while re-authenticating")
                errors = {"base": "unknown"}
            else:
                serial = entry.data.get(CONF_SERIAL_NUMBER)
                if serial is not None and result.serial_number not in (None, serial):
                    # The address now leads to another unit: these are its credentials.
                    return self.async_abort(reason="wrong_pbx")
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_AUTH: result.credentials.as_dict()}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): _PASSWORD_SELECTOR}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change where the PBX is (host, port, TLS)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            try:
                target = parse_target(user_input)
                password = user_input.get(CONF_PASSWORD) or None
                result = await async_connect(
                    self.hass,
                    target,
                    domain=entry.data[CONF_TENANT_DOMAIN],
                    username=entry.data[CONF_USERNAME],
                    password=password,
                    credentials=None
                    if password
                    else credentials_from_dict(entry.data[CONF_AUTH]),
                    refuse_v3=speaks_v4(entry.data),
                )
            except (
                CannotConnectError,
                AuthDowngradeError,
                SaltUnavailableError,
                KalliopeError,
            ) as err:
                errors, placeholders = errors_for(err)
            except Exception:
                _LOGGER.exception("Unexpected error while reconfiguring")
                errors = {"base": "unknown"}
            else:
                serial = entry.data.get(CONF_SERIAL_NUMBER)
                if serial is not None:
                    await self.async_set_unique_id(result.serial_number)
                    self._abort_if_unique_id_mismatch(reason="wrong_pbx")
                    unique_id = serial
                else:
                    unique_id = target.unique_id
                    if any(
                        other.unique_id == unique_id
                        for other in self._async_current_entries(include_ignore=False)
                        if other.entry_id != entry.entry_id
                    ):
                        return self.async_abort(reason="already_configured")
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=unique_id,
                    title=target.title,
                    data_updates={
                        **target.as_entry_data(),
                        CONF_AUTH: result.credentials.as_dict(),
                    },
                )
        defaults = user_input or entry.data
        schema = vol.Schema(
            {
                **_connection_schema(defaults),
                vol.Optional(CONF_PASSWORD): _PASSWORD_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: KalliopeConfigEntry) -> OptionsFlow:
        """Options: which extensions, voicemail sensors."""
        return KalliopeOptionsFlow()


class KalliopeOptionsFlow(OptionsFlowBase):
    """Behaviour options; polling intervals are not options."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Settings, or how to set up live call events on the PBX."""
        return self.async_show_menu(
            step_id="init", menu_options=["settings", "live_events"]
        )

    async def async_step_live_events(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What to paste into the PBX's notification action, and the switch."""
        current = self.config_entry.options
        if user_input is not None:
            return self.async_create_entry(
                data={**current, CONF_LIVE_EVENTS: user_input[CONF_LIVE_EVENTS]}
            )
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_LIVE_EVENTS, default=current.get(CONF_LIVE_EVENTS, False)
                ): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="live_events",
            data_schema=schema,
            description_placeholders=live_events_instructions(
                self.hass, self.config_entry
            ),
        )

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which extensions get devices, voicemail sensors, allowed numbers."""
        errors: dict[str, str] = {}
        if user_input is not None:
            extensions = str(user_input.get(CONF_EXTENSIONS) or "").strip()
            allowed = str(user_input.get(CONF_ALLOWED_NUMBERS) or "").strip()
            try:
                parse_extension_filter(extensions)
            except ValueError:
                errors[CONF_EXTENSIONS] = "invalid_extension_filter"
            try:
                AllowedNumbers.parse(allowed)
            except SlowPatternError:
                errors[CONF_ALLOWED_NUMBERS] = "slow_allowed_numbers"
            except ValueError:
                errors[CONF_ALLOWED_NUMBERS] = "invalid_allowed_numbers"
            if not errors:
                options: dict[str, Any] = {
                    **self.config_entry.options,
                    CONF_EXTENSIONS: extensions,
                    CONF_VOICEMAIL_SENSORS: user_input[CONF_VOICEMAIL_SENSORS],
                    CONF_ALLOWED_NUMBERS: allowed,
                    CONF_VOICE_FORWARDING_WITHOUT_USER: user_input[
                        CONF_VOICE_FORWARDING_WITHOUT_USER
                    ],
                    CONF_BACKUPS_TO_KEEP: int(user_input[CONF_BACKUPS_TO_KEEP]),
                }
                # Left empty: keep the privacy password given earlier.
                privacy = user_input.get(CONF_CDR_PRIVACY_PASSWORD)
                privacy_md5 = (
                    md5_hex(privacy)
                    if privacy
                    else self.config_entry.options.get(CONF_CDR_PRIVACY_MD5)
                )
                if privacy_md5:
                    options[CONF_CDR_PRIVACY_MD5] = privacy_md5
                return self.async_create_entry(data=options)
        current = user_input or self.config_entry.options
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_EXTENSIONS,
                    description={"suggested_value": current.get(CONF_EXTENSIONS, "")},
                ): str,
                vol.Required(
                    CONF_VOICEMAIL_SENSORS,
                    default=current.get(CONF_VOICEMAIL_SENSORS, True),
                ): BooleanSelector(),
                vol.Optional(
                    CONF_ALLOWED_NUMBERS,
                    description={
                        "suggested_value": current.get(CONF_ALLOWED_NUMBERS, "")
                    },
                ): str,
                vol.Required(
                    CONF_VOICE_FORWARDING_WITHOUT_USER,
                    default=current.get(CONF_VOICE_FORWARDING_WITHOUT_USER, False),
                ): BooleanSelector(),
                vol.Optional(CONF_CDR_PRIVACY_PASSWORD): _PASSWORD_SELECTOR,
                vol.Required(
                    CONF_BACKUPS_TO_KEEP,
                    default=current.get(CONF_BACKUPS_TO_KEEP, DEFAULT_BACKUPS_TO_KEEP),
                ): _BACKUPS_TO_KEEP_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="settings", data_schema=schema, errors=errors
        )
