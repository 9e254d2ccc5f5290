"""Which extensions get devices: all of them, or a list and ranges like `201-230, 250`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any

from .const import CONF_EXTENSIONS

_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_SINGLE = re.compile(r"^[0-9A-Za-z_*#+]+$")


@dataclass(frozen=True, slots=True)
class ExtensionFilter:
    """A parsed filter; an empty one lets every extension through."""

    singles: frozenset[str] = frozenset()
    ranges: tuple[tuple[int, int], ...] = ()

    @property
    def allows_all(self) -> bool:
        """True when no extension is filtered out."""
        return not self.singles and not self.ranges

    def __contains__(self, exten: object) -> bool:
        """Whether an extension passes the filter."""
        if not isinstance(exten, str):
            return False
        if self.allows_all or exten in self.singles:
            return True
        if exten.isdigit():
            number = int(exten)
            return any(low <= number <= high for low, high in self.ranges)
        return False


def parse_extension_filter(value: str | None) -> ExtensionFilter:
    """Parse `201-230, 250`; raise ValueError on anything else.

    An empty value (or `all`/`*`) means every extension.
    """
    text = (value or "").strip()
    if text.lower() in ("", "all", "*"):
        return ExtensionFilter()
    singles: set[str] = set()
    ranges: list[tuple[int, int]] = []
    for item in re.split(r"[,;\s]+", re.sub(r"\s*-\s*", "-", text)):
        if not item:
            continue
        if match := _RANGE.match(item):
            low, high = int(match.group(1)), int(match.group(2))
            if low > high:
                raise ValueError(f"range {item} is reversed")
            ranges.append((low, high))
        elif _SINGLE.match(item):
            singles.add(item)
        else:
            raise ValueError(f"{item!r} is not an extension or a range")
    if not singles and not ranges:
        raise ValueError("no extension given")
    return ExtensionFilter(frozenset(singles), tuple(ranges))


def extension_filter_from_options(options: Mapping[str, Any]) -> ExtensionFilter:
    """The options' extension filter; an invalid stored value means all."""
    try:
        return parse_extension_filter(options.get(CONF_EXTENSIONS))
    except ValueError:
        return ExtensionFilter()
