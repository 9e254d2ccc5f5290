"""Reaching a PBX from the config flow: where it is, which login, what failed.

Parses the host the user typed, detects the auth scheme, proves the
credentials, and maps each failure to the form error to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import logging
from typing import Any

from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from yarl import URL

from .api import (
    AuthDetection,
    AuthScheme,
    Credentials,
    KalliopeAuthError,
    KalliopeClient,
    KalliopeError,
    KalliopeResponseError,
)
from .const import CONF_AUTH, REQUEST_TIMEOUT
from .errors import error_keys, error_placeholders

_LOGGER = logging.getLogger(__name__)


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

    def as_entry_data(self) -> dict[str, Any]:
        """How an entry keeps it; `target_of` reads it back."""
        return {
            CONF_HOST: self.host,
            CONF_PORT: self.port,
            CONF_SSL: self.use_ssl,
            CONF_VERIFY_SSL: self.verify_ssl,
        }


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
    row = error_keys(err)
    if row.form == "clock_skew":
        return {row.form_field: row.form}, error_placeholders(row.form, err)
    return {row.form_field: row.form}, {}


def speaks_v4(data: Mapping[str, Any]) -> bool:
    """Whether the entry's stored credentials are 4.x ones."""
    auth = data.get(CONF_AUTH)
    return isinstance(auth, Mapping) and auth.get("scheme") == AuthScheme.V4_DIGEST


def target_of(data: Mapping[str, Any]) -> Target:
    """Where an entry's PBX is."""
    return Target(
        host=data[CONF_HOST],
        port=data.get(CONF_PORT),
        use_ssl=data[CONF_SSL],
        verify_ssl=data[CONF_VERIFY_SSL],
    )
