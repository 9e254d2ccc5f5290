"""Names for the numbers that call: the PBX's extensions, then its phonebook.

A phonebook lookup is a REST request, so it never holds an event up: the
first event from an unknown number goes out without a name, the lookup runs
in the background, and the name is shown (and used by later events of the
call, such as `missed`) once it is known. Answers, found or not, are cached
with a bound.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
import re
import time

from .api import Contact, KalliopeClient, KalliopeError, PhonebookFilter

CACHE_SIZE = 512
FOUND_TTL = 3600.0
NOT_FOUND_TTL = 600.0
# Suffix match for numbers written with and without a country prefix.
SUFFIX_DIGITS = 8
_DIGITS = re.compile(r"\D")


class CallerNames:
    """Resolves numbers to names; `lookup` fills the cache in the background."""

    def __init__(
        self,
        client: KalliopeClient,
        extension_name: Callable[[str], str | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Names of extensions come from `extension_name`, others from the phonebook."""
        self._client = client
        self._extension_name = extension_name
        self._clock = clock
        # number -> (name or None, expires at)
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._pending: set[str] = set()
        # Bumped by `clear`: an answer asked for before it is not cached.
        self._generation = 0
        self.lookups = 0

    def name_of(self, number: str) -> str | None:
        """The name known now, without waiting for the phonebook."""
        name = self._extension_name(number)
        if name is not None:
            return name
        cached = self._cache.get(number)
        if cached is None or cached[1] < self._clock():
            return None
        self._cache.move_to_end(number)
        return cached[0]

    def needs_lookup(self, number: str) -> bool:
        """Whether the phonebook should be asked about `number` now."""
        if not _DIGITS.sub("", number) or number in self._pending:
            return False
        if self._extension_name(number) is not None:
            return False
        cached = self._cache.get(number)
        return cached is None or cached[1] < self._clock()

    async def lookup(self, number: str) -> str | None:
        """Ask the phonebook; cache the answer (also 'no such contact')."""
        self._pending.add(number)
        self.lookups += 1
        generation = self._generation
        try:
            name = await self._search(number)
        except KalliopeError:
            # Not cached: the PBX may answer next time.
            return None
        finally:
            self._pending.discard(number)
        if generation != self._generation:
            # The phonebook changed meanwhile: the answer may be stale.
            return name
        ttl = FOUND_TTL if name is not None else NOT_FOUND_TTL
        self._cache[number] = (name, self._clock() + ttl)
        self._cache.move_to_end(number)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return name

    def clear(self) -> None:
        """Forget every phonebook answer (the phonebook changed)."""
        self._cache.clear()
        self._generation += 1

    async def _search(self, number: str) -> str | None:
        digits = _DIGITS.sub("", number)
        exact = await self._client.search_phonebook(PhonebookFilter(phone=number))
        name = _first_name(exact, lambda phone: phone == digits)
        if name is not None or len(digits) < SUFFIX_DIGITS:
            return name
        # Written with and without a country prefix: the same last digits.
        suffix = digits[-SUFFIX_DIGITS:]
        similar = await self._client.search_phonebook(
            PhonebookFilter(phone=f"%{suffix}")
        )
        return _first_name(similar, lambda phone: phone.endswith(suffix))


def _first_name(
    contacts: Iterable[Contact], matches: Callable[[str], bool]
) -> str | None:
    """The first named contact whose number (digits only) matches.

    Checked here too: what a search matches is the PBX's business.
    """
    return next(
        (
            contact.name
            for contact in contacts
            if contact.name
            and contact.phone
            and matches(_DIGITS.sub("", contact.phone))
        ),
        None,
    )
