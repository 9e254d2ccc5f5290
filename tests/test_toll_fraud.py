"""The toll-fraud guard of click-to-call: who may dial which number."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest

from custom_components.kalliopepbx.const import CONF_ALLOWED_NUMBERS, DOMAIN
from custom_components.kalliopepbx.phone_numbers import AllowedNumbers, SlowPatternError

from .reference_pbx import ReferencePbx

# The guard's own pattern checks need no PBX; the rest run on the
# reference-shaped one (extensions 201-203).
WITH_PBX = pytest.mark.usefixtures("reference_integration")


def placed(pbx: ReferencePbx) -> list[tuple[str | None, str | None]]:
    """(number, type) of every click2call request the PBX received."""
    return [
        (body.findtext("click2call/number_to_call"), body.findtext("click2call/type"))
        for body in (
            ET.fromstring(r.body)  # noqa: S314 - our own requests
            for r in pbx.seen("POST", "/click2call")
        )
    ]


async def click2call(
    hass: HomeAssistant, number: str, call_type: str, context: Context | None
) -> None:
    """Ring 201, then dial `number`."""
    await hass.services.async_call(
        DOMAIN,
        "click2call",
        {"extension": "201", "number": number, "type": call_type},
        blocking=True,
        context=context,
    )


@WITH_PBX
@pytest.mark.parametrize("number", ["*7200900123456", "0212345678", "299", "*97"])
async def test_exten_type_means_an_extension_of_the_pbx(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_admin_user: User, number: str
) -> None:
    """`type: exten` no longer skips the guard: anything else is refused unsent."""
    with pytest.raises(ServiceValidationError) as err:
        await click2call(hass, number, "exten", Context(user_id=hass_admin_user.id))
    assert err.value.translation_key == "not_an_extension"
    assert placed(reference_pbx) == []


@WITH_PBX
@pytest.mark.parametrize("call_type", ["auto", "out"])
async def test_outside_numbers_need_an_admin_until_allowed_numbers_is_set(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    hass_admin_user: User,
    hass_read_only_user: User,
    call_type: str,
) -> None:
    """Without Allowed numbers only a signed-in administrator dials out.

    A request with no user (voice satellite, LLM tool, automation) is not an
    administrator.
    """
    for context in (Context(user_id=hass_read_only_user.id), Context(), None):
        with pytest.raises(ServiceValidationError) as err:
            await click2call(hass, "0212345678", call_type, context)
        assert err.value.translation_key == "outside_number_admin_only"
        assert err.value.translation_placeholders == {"number": "0212345678"}
    assert placed(reference_pbx) == []

    await click2call(hass, "0212345678", call_type, Context(user_id=hass_admin_user.id))
    assert placed(reference_pbx) == [("0212345678", call_type)]


@WITH_PBX
async def test_everyone_may_call_an_extension(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_read_only_user: User
) -> None:
    """Extensions are no toll: users, and requests with no user, may call them."""
    await click2call(hass, "202", "exten", Context(user_id=hass_read_only_user.id))
    await click2call(hass, "203", "auto", Context())
    assert placed(reference_pbx) == [
        ("202", "exten"),
        ("203", "auto"),
    ]


@WITH_PBX
async def test_out_type_to_an_extension_number_is_an_outside_call(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """`type: out` dials through a line even when the digits name an extension."""
    with pytest.raises(ServiceValidationError) as err:
        await click2call(hass, "202", "out", Context())
    assert err.value.translation_key == "outside_number_admin_only"
    assert placed(reference_pbx) == []


@WITH_PBX
@pytest.mark.parametrize("entry_options", [{CONF_ALLOWED_NUMBERS: r"0[1-9][0-9]{5,9}"}])
async def test_allowed_numbers_let_everyone_dial_what_they_match(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    hass_admin_user: User,
    hass_read_only_user: User,
) -> None:
    """Once set, the pattern decides for everyone, administrators included."""
    await click2call(hass, "0212345678", "auto", Context())
    await click2call(hass, "0212345678", "out", Context(user_id=hass_read_only_user.id))
    for context in (Context(), Context(user_id=hass_admin_user.id)):
        with pytest.raises(ServiceValidationError) as err:
            await click2call(hass, "00441234567890", "out", context)
        assert err.value.translation_key == "number_not_allowed"
    assert placed(reference_pbx) == [("0212345678", "auto"), ("0212345678", "out")]


@pytest.mark.parametrize(
    "pattern",
    [r"(0*)*1", r"(0|00)*1", r"([0-9]+)+", r"(3\d{2})*", r"\d*\d*\d*\d*1", r"(0)\1"],
)
def test_patterns_that_backtrack_catastrophically_are_refused(pattern: str) -> None:
    """Nested or overlapping repetitions could block Home Assistant for minutes."""
    with pytest.raises(SlowPatternError):
        AllowedNumbers.parse(pattern)
    # A stored one (from before this check) allows nothing rather than hang.
    guard = AllowedNumbers.from_option(pattern)
    assert not guard.allows("0" * 31 + "2")


@pytest.mark.parametrize(
    "pattern",
    [
        r"0[1-9][0-9]{5,9}|3[0-9]{8,9}",
        r"(\+39|0039)?3[0-9]{8,9}",
        r"(02|06)[0-9]{6,8}",
        r"0\d+",
        r"\d*\d*\d*1",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    """What administrators write for real stays valid."""
    assert AllowedNumbers.parse(pattern).configured
