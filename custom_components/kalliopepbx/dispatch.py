"""Change tracking for per-extension updates.

A refresh of thousands of extensions usually changes a few: `merge_changes`
finds which, and `KeyedListeners` wakes only the listeners of those keys.
Pure Python, no Home Assistant imports, so both are tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set as AbstractSet
import contextlib


def merge_changes[V](
    old: Mapping[str, V] | None, new: Iterable[tuple[str, V]]
) -> tuple[Mapping[str, V], AbstractSet[str] | None]:
    """The new mapping and the keys whose value changed, were added or removed.

    Unchanged values keep their previous object (and an unchanged mapping is
    the previous one), so comparing old and new data afterwards is cheap.
    Without a previous mapping every key counts as changed (None). Pure: it
    may run in a worker thread.
    """
    if old is None:
        return dict(new), None
    merged: dict[str, V] = {}
    changed: set[str] = set()
    previous = old.get
    for key, value in new:
        before = previous(key)
        if before is not None and (before is value or before == value):
            merged[key] = before
        else:
            merged[key] = value
            changed.add(key)
    if len(merged) != len(old) or changed:
        changed.update(key for key in old if key not in merged)
        return merged, changed
    return old, changed


class KeyedListeners:
    """Listeners indexed by key (an extension), woken only for changed keys.

    Unkeyed listeners are woken on every dispatch. The cost of a dispatch is
    proportional to what changed, not to the number of listeners.
    """

    def __init__(self) -> None:
        """Start without listeners."""
        self._keyed: dict[object, list[Callable[[], None]]] = {}
        self._unkeyed: list[Callable[[], None]] = []
        self._changed: AbstractSet[str] | None = None

    @property
    def changed(self) -> AbstractSet[str] | None:
        """While listeners are woken: the keys that changed; None otherwise."""
        return self._changed

    def add(self, listener: Callable[[], None], key: object = None) -> None:
        """Wake `listener` for changes of `key`, or for every change (None)."""
        if key is None:
            self._unkeyed.append(listener)
        else:
            self._keyed.setdefault(key, []).append(listener)

    def remove(self, listener: Callable[[], None], key: object = None) -> None:
        """Forget `listener` (added with `key`); unknown ones are ignored."""
        bucket = self._unkeyed if key is None else self._keyed.get(key)
        if bucket is None:
            return
        with contextlib.suppress(ValueError):
            bucket.remove(listener)
        if key is not None and not bucket:
            self._keyed.pop(key, None)

    def dispatch(self, changed: AbstractSet[str]) -> None:
        """Wake the listeners of the `changed` keys, then the unkeyed ones.

        Listeners may add or remove listeners meanwhile: each bucket is
        copied before it is walked.
        """
        self._changed = changed
        try:
            for key in changed:
                for listener in list(self._keyed.get(key, ())):
                    listener()
            for listener in list(self._unkeyed):
                listener()
        finally:
            self._changed = None
