"""Phone numbers typed by users: normalization and the allowed-number guard."""

from __future__ import annotations

from dataclasses import dataclass
import importlib
import re
from typing import Any

# The standard library's own parse tree of a pattern; it has no public one.
sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

# What people type between digits: "+39 02-1234.567", "(02) 1234567".
_SEPARATORS = re.compile(r"[\s\-./()]")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")


class InvalidNumberError(ValueError):
    """Not a number the PBX can dial."""


class SlowPatternError(ValueError):
    """A pattern whose matching time can explode (catastrophic backtracking)."""


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
# Variable-length repetitions one after another multiply the ways to split a
# number: with numbers of at most 32 characters, three cost well under a
# millisecond, five take seconds.
MAX_SEQUENTIAL_VARIABLE_REPEATS = 3


def _repeat_risk(items: Any, inside_repeat: bool) -> tuple[bool, int]:
    """(nested or overlapping repetition found, variable repeats in sequence)."""
    in_sequence = 0
    for op, value in items:
        if op in _REPEATS:
            low, high, body = value
            repeats = high is sre.MAXREPEAT or high > 1
            if repeats and inside_repeat:
                return True, 0
            nested, inner = _repeat_risk(body, inside_repeat or repeats)
            if nested:
                return True, 0
            variable = high is sre.MAXREPEAT or high - low >= 2
            in_sequence += inner + (1 if variable else 0)
        elif op is sre.BRANCH:
            if inside_repeat:
                # Alternatives inside a repetition, e.g. (0|00)*: they may overlap.
                return True, 0
            widest = 0
            for branch in value[1]:
                nested, inner = _repeat_risk(branch, inside_repeat)
                if nested:
                    return True, 0
                widest = max(widest, inner)
            in_sequence += widest
        elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
            return True, 0
        else:
            body = _sub_pattern(op, value)
            if body is not None:
                nested, inner = _repeat_risk(body, inside_repeat)
                if nested:
                    return True, 0
                in_sequence += inner
    return False, in_sequence


def _sub_pattern(op: Any, value: Any) -> Any:
    """The pattern inside a group or lookaround, if `op` has one."""
    if op is sre.SUBPATTERN:
        return value[3]
    if op is sre.ATOMIC_GROUP:
        return value
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return value[1]
    return None


def check_match_time(raw: str) -> None:
    """Refuse patterns that can take seconds or more to match a 32-digit number.

    `(0*)*1` takes minutes on a string of zeros: a repetition inside a
    repetition (or alternatives inside one) lets the engine try exponentially
    many ways before failing. Back-references are refused for the same reason.
    """
    nested, in_sequence = _repeat_risk(sre_parse.parse(raw), False)
    if nested or in_sequence > MAX_SEQUENTIAL_VARIABLE_REPEATS:
        raise SlowPatternError(raw)


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
        """Compile the option.

        Raises `SlowPatternError` for a pattern that could block Home
        Assistant while matching, `ValueError` for an invalid expression.
        """
        raw = (raw or "").strip()
        if not raw:
            return cls()
        try:
            pattern = re.compile(raw)
        except re.error as err:
            raise ValueError(str(err)) from err
        check_match_time(raw)
        return cls(pattern)

    @classmethod
    def from_option(cls, raw: str | None) -> AllowedNumbers:
        """Like `parse`, failing closed.

        A stored pattern that no longer compiles, or that is refused as too
        slow to match, allows nothing, not everything.
        """
        try:
            return cls.parse(raw)
        except ValueError:
            return cls(re.compile(r"(?!)"))

    @property
    def configured(self) -> bool:
        """Whether an administrator set a pattern (empty: none set)."""
        return self.pattern is not None

    def allows(self, number: str) -> bool:
        """Whether `number` (normalized) may be dialled or forwarded to."""
        return self.pattern is None or self.pattern.fullmatch(number) is not None
