"""Keyed listener dispatch and change detection, without Home Assistant."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from custom_components.kalliopepbx.dispatch import KeyedListeners, merge_changes


def recorder(calls: list[str], name: str) -> Callable[[], None]:
    """A listener that notes its name when woken."""
    return lambda: calls.append(name)


def test_keyed_listeners_get_only_their_keys() -> None:
    """A listener keyed by an extension wakes only when that extension changed."""
    listeners = KeyedListeners()
    calls: list[str] = []
    listeners.add(recorder(calls, "201"), "201")
    listeners.add(recorder(calls, "202"), "202")
    listeners.add(recorder(calls, "203"), "203")

    listeners.dispatch({"202"})
    assert calls == ["202"]

    calls.clear()
    listeners.dispatch({"201", "203", "999"})
    assert sorted(calls) == ["201", "203"]


def test_unkeyed_listeners_get_every_dispatch() -> None:
    """Unkeyed listeners wake on every dispatch, after the keyed ones."""
    listeners = KeyedListeners()
    calls: list[str] = []
    listeners.add(recorder(calls, "all"))
    listeners.add(recorder(calls, "201"), "201")

    listeners.dispatch({"201"})
    assert calls == ["201", "all"]

    calls.clear()
    listeners.dispatch(set())
    assert calls == ["all"]


def test_several_listeners_per_key() -> None:
    """Every listener of a key wakes, in the order they were added."""
    listeners = KeyedListeners()
    calls: list[str] = []
    listeners.add(recorder(calls, "first"), "201")
    listeners.add(recorder(calls, "second"), "201")

    listeners.dispatch({"201"})
    assert calls == ["first", "second"]


def test_removed_listeners_are_not_woken() -> None:
    """Removal forgets a listener; removing an unknown one is harmless."""
    listeners = KeyedListeners()
    calls: list[str] = []
    keyed = recorder(calls, "201")
    unkeyed = recorder(calls, "all")
    listeners.add(keyed, "201")
    listeners.add(unkeyed)

    listeners.remove(keyed, "201")
    listeners.remove(unkeyed)
    listeners.remove(keyed, "201")
    listeners.remove(recorder(calls, "never added"), "999")
    listeners.remove(recorder(calls, "never added"))

    listeners.dispatch({"201"})
    assert calls == []


def test_listener_removed_during_dispatch() -> None:
    """A listener may remove itself or another while a dispatch runs."""
    listeners = KeyedListeners()
    calls: list[str] = []
    second = recorder(calls, "second")

    def first() -> None:
        calls.append("first")
        listeners.remove(first, "201")
        listeners.remove(second, "201")

    listeners.add(first, "201")
    listeners.add(second, "201")

    listeners.dispatch({"201"})
    assert calls == ["first", "second"]

    calls.clear()
    listeners.dispatch({"201"})
    assert calls == []


def test_changed_keys_visible_only_while_dispatching() -> None:
    """Listeners read which keys changed; outside a dispatch there are none."""
    listeners = KeyedListeners()
    seen: list[object] = []
    listeners.add(lambda: seen.append(listeners.changed))

    assert listeners.changed is None
    listeners.dispatch({"201", "202"})
    assert seen == [{"201", "202"}]
    assert listeners.changed is None


def test_changed_keys_reset_after_a_failing_listener() -> None:
    """A listener that raises does not leave the changed keys behind."""
    listeners = KeyedListeners()

    def broken() -> None:
        raise RuntimeError("boom")

    listeners.add(broken, "201")
    with pytest.raises(RuntimeError):
        listeners.dispatch({"201"})
    assert listeners.changed is None


def test_merge_without_previous_data() -> None:
    """The first data: every key counts as changed (None)."""
    merged, changed = merge_changes(None, [("201", 1), ("202", 2)])
    assert merged == {"201": 1, "202": 2}
    assert changed is None


def test_merge_unchanged_returns_the_same_mapping() -> None:
    """Nothing changed: the previous mapping itself, and no changed key."""
    old = {"201": (1, "a"), "202": (2, "b")}
    merged, changed = merge_changes(old, [("201", (1, "a")), ("202", (2, "b"))])
    assert merged is old
    assert changed == set()


def test_merge_keeps_unchanged_objects() -> None:
    """Equal values keep their previous object; changed ones are the new ones."""
    before = [201]
    old = {"201": before, "202": [202]}
    new_202 = [2020]
    merged, changed = merge_changes(old, [("201", [201]), ("202", new_202)])
    assert merged is not old
    assert merged["201"] is before
    assert merged["202"] is new_202
    assert changed == {"202"}


def test_merge_added_and_removed_keys() -> None:
    """Added and removed keys count as changed."""
    old = {"201": 1, "202": 2}
    merged, changed = merge_changes(old, [("201", 1), ("203", 3)])
    assert merged == {"201": 1, "203": 3}
    assert changed == {"202", "203"}


def test_merge_removed_key_only() -> None:
    """A shorter list with equal values still reports the removed key."""
    old = {"201": 1, "202": 2}
    merged, changed = merge_changes(old, [("201", 1)])
    assert merged == {"201": 1}
    assert changed == {"202"}


def test_merge_to_empty() -> None:
    """Every key gone: all of them changed."""
    merged, changed = merge_changes({"201": 1}, [])
    assert merged == {}
    assert changed == {"201"}
