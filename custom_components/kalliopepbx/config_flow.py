"""Config flow for KalliopePBX: add, re-authenticate, reconfigure, options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Any

from homeassistant import config_entries
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SSL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
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
from yarl import URL

from .api import (
    AuthDetection,
    AuthScheme,
    Credentials,
    KalliopeAuthError,
    KalliopeCertificateError,
    KalliopeClient,
    KalliopeClockSkewError,
    KalliopeConnectionError,
    KalliopeError,
    KalliopeLicenseError,
    KalliopeNotSupportedError,
    KalliopeResponseError,
    credentials_from_dict,
)
from .api.auth import md5_hex
from .const import (
    CONF_ALLOWED_NUMBERS,
    CONF_AUTH,
    CONF_CDR_PRIVACY_MD5,
    CONF_CDR_PRIVACY_PASSWORD,
    CONF_EXTENSIONS,
    CONF_PBX_ID,
    CONF_TENANT_DOMAIN,
    CONF_VOICE_FORWARDING_WITHOUT_USER,
    CONF_VOICEMAIL_SENSORS,
    DEFAULT_TENANT_DOMAIN,
    DEFAULT_USERNAME,
    DOMAIN,
    REQUEST_TIMEOUT,
)
from .extension_filter import parse_extension_filter
from .numbers import AllowedNumbers, SlowPatternError

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry

_LOGGER = logging.getLogger(__name__)

CONF_SERIAL_NUMBER = "serial_number"

# 2025.8+ reloads the entry itself when options change; older cores need a
# listener, which newer cores refuse next to `async_update_reload_and_abort`.
AUTOMATIC_OPTIONS_RELOAD = hasattr(config_entries, "OptionsFlowWithReload")
if TYPE_CHECKING:
    _OptionsFlowBase = OptionsFlow
else:
    _OptionsFlowBase = getattr(config_entries, "OptionsFlowWithReload", OptionsFlow)

_PORT_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
)
_PASSWORD_SELECTOR = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)


class CannotConnectError(Exception):
    """The host field is not something we can connect to."""


class AuthDowngradeError(Exception):
    """A 4.x entry's PBX now looks like 3.x: its weaker login is not sent."""


class SaltUnavailableError(Exception):
    """The 4.x salt request failed in a way that says nothing about 3.x."""

    def __init__(self, error_key: str) -> None:
        """Keep the form error to show: `cannot_connect` or `unknown`."""
        super().__init__(error_key)
        self.error_key = error_key


async def _async_detect(client: KalliopeClient, domain: str) -> AuthDetection:
    """The PBX's auth scheme; failures of the salt request as form errors.

    The salt needs no login, so a 401 there is a proxy or a fault, not a
    wrong password; neither it nor a 5xx nor an unreadable answer means 3.x.
    """
    try:
        return await client.detect(domain)
    except KalliopeAuthError as err:
        raise SaltUnavailableError("cannot_connect") from err
    except KalliopeResponseError as err:
        if err.status is not None and err.status >= 500:
            raise SaltUnavailableError("cannot_connect") from err
        if err.status is not None and not 200 <= err.status < 300:
            raise  # a redirect: the HTTPS setting, said as before
        _LOGGER.warning("Unreadable answer to the 4.x salt request: %s", err)
        raise SaltUnavailableError("unknown") from err


@dataclass(frozen=True, slots=True)
class Target:
    """Where the PBX is, from the user's host/port/TLS answers."""

    host: str
    port: int | None
    use_ssl: bool
    verify_ssl: bool

    @property
    def unique_id(self) -> str:
        """Identity used when the PBX exposes no serial number."""
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def title(self) -> str:
        """Entry title as the user will see it."""
        return f"KalliopePBX {self.unique_id}"


def parse_target(user_input: Mapping[str, Any]) -> Target:
    """Accept `10.0.0.5`, `pbx.lan:8080` or `https://pbx.lan:8443/` as the host."""
    raw = str(user_input[CONF_HOST]).strip()
    use_ssl = bool(user_input.get(CONF_SSL, False))
    port = user_input.get(CONF_PORT)
    try:
        if "://" in raw:
            url = URL(raw)
            use_ssl = url.scheme == "https"
        elif raw.count(":") == 1 or raw.startswith("["):
            url = URL(f"http://{raw}")
        else:
            url = URL.build(scheme="http", host=raw)
        host = url.host
        explicit_port = url.explicit_port
    except (TypeError, ValueError) as err:
        raise CannotConnectError from err
    if not host or any(c in host for c in "/?#@ "):
        raise CannotConnectError
    if explicit_port is not None and port is None:
        port = explicit_port
    return Target(
        host=host.lower(),
        port=int(port) if port else None,
        use_ssl=use_ssl,
        verify_ssl=bool(user_input.get(CONF_VERIFY_SSL, True)),
    )


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """What a successful connection test learned."""

    credentials: Credentials
    serial_number: str | None


async def async_connect(
    hass: HomeAssistant,
    target: Target,
    *,
    domain: str,
    username: str,
    password: str | None = None,
    credentials: Credentials | None = None,
    refuse_v3: bool = False,
) -> ConnectResult:
    """Detect the auth scheme, derive credentials and prove they work.

    `refuse_v3`: the entry already speaks 4.x, so a PBX that now looks like
    3.x is refused before the 3.x credential (md5 of the password) is sent.
    """
    client = KalliopeClient(
        async_get_clientsession(hass, verify_ssl=target.verify_ssl),
        target.host,
        port=target.port,
        use_ssl=target.use_ssl,
        verify_ssl=target.verify_ssl,
        timeout=REQUEST_TIMEOUT,
    )
    if password is not None:
        detection = await _async_detect(client, domain)
        if refuse_v3 and detection.scheme is AuthScheme.V3_BASIC:
            raise AuthDowngradeError
        credentials = detection.credentials(password, username, domain)
    client.credentials = credentials
    # A licence-gated endpoint: proves the credentials and the licence at once.
    await client.pending()
    serial = None
    if credentials is not None and credentials.scheme is AuthScheme.V4_DIGEST:
        serial = await client.serial_number()
    assert credentials is not None  # noqa: S101 - set above in both branches
    return ConnectResult(credentials=credentials, serial_number=serial)


def errors_for(
    err: CannotConnectError | AuthDowngradeError | SaltUnavailableError | KalliopeError,
) -> tuple[dict[str, str], dict[str, str]]:
    """Form errors (by field) and description placeholders for a failure."""
    if isinstance(err, CannotConnectError):
        return {CONF_HOST: "invalid_host"}, {}
    if isinstance(err, SaltUnavailableError):
        return {"base": err.error_key}, {}
    if isinstance(err, AuthDowngradeError):
        return {"base": "auth_downgrade"}, {}
    if isinstance(err, KalliopeClockSkewError):
        return {"base": "clock_skew"}, {"skew": f"{err.skew_seconds:+.0f}"}
    if isinstance(err, KalliopeAuthError):
        return {CONF_PASSWORD: "invalid_auth"}, {}
    if isinstance(err, KalliopeCertificateError):
        return {CONF_VERIFY_SSL: "certificate_not_trusted"}, {}
    if isinstance(err, KalliopeConnectionError):
        return {"base": "cannot_connect"}, {}
    if isinstance(err, KalliopeLicenseError):
        return {"base": "license_not_active"}, {}
    if isinstance(err, KalliopeResponseError | KalliopeNotSupportedError):
        return {"base": "not_kalliope"}, {}
    return {"base": "unknown"}, {}


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
                        CONF_HOST: target.host,
                        CONF_PORT: target.port,
                        CONF_SSL: target.use_ssl,
                        CONF_VERIFY_SSL: target.verify_ssl,
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
                    _target_of(entry.data),
                    domain=entry.data[CONF_TENANT_DOMAIN],
                    username=entry.data[CONF_USERNAME],
                    password=user_input[CONF_PASSWORD],
                    refuse_v3=_speaks_v4(entry.data),
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
                    refuse_v3=_speaks_v4(entry.data),
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
                        CONF_HOST: target.host,
                        CONF_PORT: target.port,
                        CONF_SSL: target.use_ssl,
                        CONF_VERIFY_SSL: target.verify_ssl,
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


def _speaks_v4(data: Mapping[str, Any]) -> bool:
    """Whether the entry's stored credentials are 4.x ones."""
    auth = data.get(CONF_AUTH)
    return isinstance(auth, Mapping) and auth.get("scheme") == AuthScheme.V4_DIGEST


def _target_of(data: Mapping[str, Any]) -> Target:
    return Target(
        host=data[CONF_HOST],
        port=data.get(CONF_PORT),
        use_ssl=data[CONF_SSL],
        verify_ssl=data[CONF_VERIFY_SSL],
    )


class KalliopeOptionsFlow(_OptionsFlowBase):
    """Behaviour options; polling intervals are not options."""

    async def async_step_init(
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
                    CONF_EXTENSIONS: extensions,
                    CONF_VOICEMAIL_SENSORS: user_input[CONF_VOICEMAIL_SENSORS],
                    CONF_ALLOWED_NUMBERS: allowed,
                    CONF_VOICE_FORWARDING_WITHOUT_USER: user_input[
                        CONF_VOICE_FORWARDING_WITHOUT_USER
                    ],
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
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)
