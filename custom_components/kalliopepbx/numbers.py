"""Phone numbers typed by users: normalization and the allowed-number guard."""

from __future__ import annotations

from dataclasses import dataclass
import re

# What people type between digits: "+39 02-1234.567", "(02) 1234567".
_SEPARATORS = re.compile(r"[\s\-./()]")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")


class InvalidNumberError(ValueError):
    """Not a number the PBX can dial."""


def normalize_number(raw: str) -> str:
    """Digits, `*` and `#`, with one optional leading `+`; at most 32 of them."""
    number = _SEPARATORS.sub("", raw)
    if not _NUMBER.fullmatch(number):
        raise InvalidNumberError(raw)
    return number


@dataclass(frozen=True, slots=True)
class AllowedNumbers:
    """The options' allowed-number pattern (toll-fraud guard).

    A regular expression a whole external number must match; empty allows all.
    """

    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, raw: str | None) -> AllowedNumbers:
        """Compile the option; raises `ValueError` on an invalid expression."""
        raw = (raw or "").strip()
        if not raw:
            return cls()
        try:
            return cls(re.compile(raw))
        except re.error as err:
            raise ValueError(str(err)) from err

    @classmethod
    def from_option(cls, raw: str | None) -> AllowedNumbers:
        """Like `parse`, failing closed.

        A stored pattern that no longer compiles allows nothing, not everything.
        """
        try:
            return cls.parse(raw)
        except ValueError:
            return cls(re.compile(r"(?!)"))

    def allows(self, number: str) -> bool:
        """Whether `number` (normalized) may be dialled or forwarded to."""
        return self.pattern is None or self.pattern.fullmatch(number) is not None
