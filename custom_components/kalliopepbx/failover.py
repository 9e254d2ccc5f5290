"""Failovers as a forwarding change sees them: built, compared, described.

Pure functions over the client's `Failover`: which outbound line an outside
forward goes through, what a change keeps of the failover the PBX has, and
a few words for errors and repair issues.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import NamedTuple

from homeassistant.exceptions import ServiceValidationError

from .api import Failover, FailoverType, GatewayType, UserConfig
from .change_notes import ChangeNote, ForwardingType, NoteValue
from .const import DOMAIN


class OutboundLine(NamedTuple):
    """An outbound line as one failover names it: type and id always together."""

    type: GatewayType
    id: str
    name: str | None


def default_failover(exten: str, vm_enabled: bool) -> Failover:
    """What a new extension gets on the PBX: its voicemail, or hang up."""
    if vm_enabled:
        return Failover(type=FailoverType.FORWARD_TO_VOICEMAIL, destination=exten)
    return Failover(type=FailoverType.HANGUP)


def _type_of(failover: Failover) -> str:
    return failover.type_raw or failover.type.value


def forwarding_part(failover: Failover | None) -> tuple[str, str, str] | None:
    """Where calls go (type, destination, outbound line): what a change sets."""
    if failover is None:
        return None
    external = failover.type is FailoverType.FORWARD_TO_EXTERNAL_NUMBER
    return (
        _type_of(failover),
        failover.destination or "",
        (failover.gateway_id or "") if external else "",
    )


def forwarding_words(failover: Failover | None) -> NoteValue:
    """Where calls go, kept as data: worded in the reader's language when shown."""
    if failover is None:
        return "-"
    kind = ForwardingType(_type_of(failover).lower())
    if not failover.destination:
        return kind
    if line := _line_words(failover):
        return ChangeNote(
            "forwarding_via_line",
            {"type": kind, "destination": failover.destination, "line": line},
        )
    return ChangeNote(
        "forwarding_to", {"type": kind, "destination": failover.destination}
    )


def _line_words(failover: Failover) -> str:
    """The outbound line of an outside forward, e.g. "trunk 2"; else nothing."""
    if (
        failover.type is not FailoverType.FORWARD_TO_EXTERNAL_NUMBER
        or not failover.gateway_id
    ):
        return ""
    if failover.gateway_type is None:
        return failover.gateway_id
    return f"{failover.gateway_type.value.lower()} {failover.gateway_id}"


def line_of(failover: Failover | None) -> OutboundLine | None:
    """The outbound line an external forward uses, if it names a whole one."""
    if (
        failover is None
        or failover.type is not FailoverType.FORWARD_TO_EXTERNAL_NUMBER
        or not failover.gateway_id
        or failover.gateway_type is None
    ):
        return None
    return OutboundLine(
        failover.gateway_type, failover.gateway_id, failover.gateway_name
    )


def known_gateway(
    exten: str,
    own: Iterable[Failover | None],
    others: Iterable[Failover | None],
) -> OutboundLine:
    """The outbound line this extension (`own` failovers) or most of the PBX uses.

    Type, id and name always come from one and the same failover: a
    failover naming a line without its type is never completed by a guess.
    """
    for failover in own:
        if failover is None or not failover.gateway_id:
            continue
        if failover.type is not FailoverType.FORWARD_TO_EXTERNAL_NUMBER:
            continue
        line = line_of(failover)
        if line is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="gateway_type_unknown",
                translation_placeholders={
                    "extension": exten,
                    "gateway_id": failover.gateway_id,
                },
            )
        return line
    in_use = Counter(line for other in others if (line := line_of(other)) is not None)
    if in_use:
        return in_use.most_common(1)[0][0]
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="gateway_required",
        translation_placeholders={"extension": exten},
    )


def whole_failover(
    failover: Failover,
    current: Failover | None,
    *,
    gateway: Callable[[], OutboundLine],
    config_of: Callable[[str], UserConfig | None],
) -> Failover:
    """`failover`'s forwarding with the rest of the failover the PBX has.

    Only where calls go changes; the announcement played first stays.
    `gateway` is asked for a line only when an outside forward names none.
    """
    if current is not None:
        failover = replace(failover, intro=current.intro)
    if failover.type is FailoverType.FORWARD_TO_EXTERNAL_NUMBER:
        if not failover.gateway_id:
            line = gateway()
            failover = replace(
                failover,
                gateway_type=line.type,
                gateway_id=line.id,
                gateway_name=line.name,
            )
        elif (
            failover.gateway_name is None
            and (now := line_of(current)) is not None
            and (now.type, now.id) == (failover.gateway_type, failover.gateway_id)
        ):
            # The same line as now: keep its name.
            failover = replace(failover, gateway_name=now.name)
    if (
        failover.type is FailoverType.FORWARD_TO_EXTEN
        and failover.destination_name is None
        and failover.destination
        and (target := config_of(failover.destination))
    ):
        failover = replace(failover, destination_name=target.name)
    return failover
