"""The error table: every client error maps to a key with text, for each use."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from homeassistant.const import CONF_PASSWORD, CONF_VERIFY_SSL
import pytest

from custom_components.kalliopepbx import api
from custom_components.kalliopepbx.api import (
    KalliopeAuthError,
    KalliopeCertificateError,
    KalliopeClockSkewError,
    KalliopeError,
    KalliopeResponseTooLargeError,
)
from custom_components.kalliopepbx.const import DOMAIN
from custom_components.kalliopepbx.errors import ERROR_KEYS, error_keys

STRINGS = json.loads(
    (
        Path(__file__).parent.parent / "custom_components" / DOMAIN / "strings.json"
    ).read_text(encoding="utf-8")
)
ERROR_CLASSES = sorted(
    (
        value
        for name in api.__all__
        if inspect.isclass(value := getattr(api, name))
        and issubclass(value, KalliopeError)
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("error", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_client_error_has_a_key_for_each_use(error: type[KalliopeError]) -> None:
    """Coordinators, actions and the config flow each find a key with text."""
    row = next(row for row in ERROR_KEYS if issubclass(error, row.error))
    assert row.polling in STRINGS["exceptions"]
    assert row.action in STRINGS["exceptions"]
    assert row.form in STRINGS["config"]["error"]
    assert row.form_field in ("base", CONF_PASSWORD, CONF_VERIFY_SSL)


def test_more_specific_rows_come_first() -> None:
    """No row is shadowed by a row of one of its base classes above it."""
    for index, row in enumerate(ERROR_KEYS):
        assert not any(
            issubclass(row.error, above.error) for above in ERROR_KEYS[:index]
        )


@pytest.mark.parametrize(
    ("error", "polling", "form"),
    [
        (KalliopeClockSkewError(400), "clock_skew", "clock_skew"),
        (KalliopeAuthError("refused"), "authentication_failed", "invalid_auth"),
        (KalliopeCertificateError("x"), "cannot_connect", "certificate_not_trusted"),
        (KalliopeResponseTooLargeError("e", 10), "response_too_large", "not_kalliope"),
    ],
)
def test_subclasses_get_their_own_row(
    error: KalliopeError, polling: str, form: str
) -> None:
    """A subclass is not caught by its base class's row."""
    assert error_keys(error).polling == polling
    assert error_keys(error).form == form
