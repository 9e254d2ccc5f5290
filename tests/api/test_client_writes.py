"""Call group writes, a voicemail switch alone, and system restart/halt:
against the reference's own answers (tests/fixtures/), then over HTTP
against the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from xml.etree import ElementTree as ET

import aiohttp
from aiohttp import web
import pytest

from custom_components.kalliopepbx.api import (
    BasicCredentials,
    CallGroupMember,
    CallGroupPriority,
    KalliopeApiError,
    KalliopeClient,
    KalliopeConnectionError,
    KalliopeInputError,
    UserUpdate,
)
from simulator import RunningSimulator, build_scenario, run_simulator
from tests.reference_pbx import ReferencePbx, fixture_bytes, reference_pbx

from .conftest import credentials_for

GROUP = "/pbx/callgroups/incoming"


def priority(priority_id: str, *extens: str) -> CallGroupPriority:
    """A priority whose members are `extens`, in that order."""
    return CallGroupPriority(priority_id, tuple(CallGroupMember(e) for e in extens))


def sent_xml(pbx: ReferencePbx, method: str, path: str) -> ET.Element:
    """The `<kpbx_request>` of the one `method` request to `path`."""
    (request,) = pbx.seen(method, path)
    return ET.fromstring(request.body)  # noqa: S314 - the client's own request


def shape(element: ET.Element) -> list[object]:
    """An element as nested (tag, text or children) lists, order kept."""
    return [
        (child.tag, shape(child) if len(child) else (child.text or ""))
        for child in element
    ]


@pytest.fixture
async def pbx(socket_enabled: None) -> AsyncIterator[ReferencePbx]:
    """The reference's examples: `callgroups.xml` to GET, its result to writes."""
    async with reference_pbx() as running:

        async def group(request: web.Request) -> web.Response:
            await request.read()
            name = (
                "callgroups.xml" if request.method == "GET" else "callgroup_saved.xml"
            )
            return web.Response(body=fixture_bytes(name), content_type="text/xml")

        running.handle(GROUP, group)
        running.answer("/pbx/callgroups", fixture="callgroup_saved.xml")
        yield running


@pytest.fixture
def ref_client(session: aiohttp.ClientSession, pbx: ReferencePbx) -> KalliopeClient:
    return KalliopeClient(
        session,
        pbx.host,
        port=pbx.port,
        credentials=BasicCredentials.from_password("admin"),
        timeout=5,
    )


# ---------------------------------------------------------------- reference answers


async def test_update_callgroup_sends_the_whole_group_in_order(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    group = await ref_client.callgroup("incoming")
    assert group is not None
    await ref_client.update_callgroup(replace(group, name="Ingresso & <Reception>"))
    request = sent_xml(pbx, "PUT", GROUP)
    # The reference's request: no selection when empty, no failover, and
    # members by extension only, every priority and member in order.
    assert shape(request) == [
        (
            "callgroup",
            [
                ("name", "Ingresso & <Reception>"),
                ("timeout", "20"),
                ("enabled", "true"),
                (
                    "priorities",
                    [
                        (
                            "priority",
                            [
                                ("id", "1"),
                                (
                                    "members",
                                    [
                                        ("member", [("exten", "201")]),
                                        ("member", [("exten", "202")]),
                                    ],
                                ),
                            ],
                        ),
                        (
                            "priority",
                            [
                                ("id", "2"),
                                ("members", [("member", [("exten", "203")])]),
                            ],
                        ),
                    ],
                ),
            ],
        )
    ]


async def test_set_callgroup_members_sends_only_the_members(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    """The reference: a PUT alters what it names; members are replaced whole."""
    pbx.restore(GROUP)  # the group as the reference PBX holds it, written too
    await ref_client.set_callgroup_members(
        "incoming", [priority("1", "203", "201"), priority("2"), priority("3", "202")]
    )
    assert pbx.writes() == [("PUT", GROUP)]
    assert pbx.seen("GET", GROUP) == []
    request = sent_xml(pbx, "PUT", GROUP).find("callgroup")
    assert request is not None
    assert [child.tag for child in request] == ["priorities"]
    assert [
        (p.findtext("id"), [m.findtext("exten") for m in p.iter("member")])
        for p in request.iter("priority")
    ] == [("1", ["203", "201"]), ("2", []), ("3", ["202"])]
    # An emptied priority still says so: the PBX replaces members whole.
    assert request.find("priorities/priority[2]/members") is not None
    group = await ref_client.callgroup("incoming")
    assert group is not None
    assert (group.name, group.timeout) == ("Incoming", 20)
    assert [[m.exten for m in p.members] for p in group.priorities] == [
        ["203", "201"],
        [],
        ["202"],
    ]


async def test_set_callgroup_members_sends_the_rest_when_the_pbx_wants_it(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    """A firmware that wants every field (code 12) gets them as it has them."""

    async def wants_every_field(request: web.Request) -> web.Response:
        assert request.method == "PUT"
        pbx.restore(GROUP)
        return web.Response(
            body=fixture_bytes("callgroup_error_12.xml"), content_type="text/xml"
        )

    pbx.handle(GROUP, wants_every_field)
    await ref_client.set_callgroup_members("incoming", [priority("1", "202")])
    assert pbx.writes() == [("PUT", GROUP), ("PUT", GROUP)]
    first, second = (
        ET.fromstring(put.body).find("callgroup")  # noqa: S314
        for put in pbx.seen("PUT", GROUP)
    )
    assert first is not None
    assert second is not None
    assert [child.tag for child in first] == ["priorities"]
    assert [child.tag for child in second] == [
        "name",
        "timeout",
        "enabled",
        "priorities",
    ]
    assert (second.findtext("name"), second.findtext("timeout")) == ("Incoming", "20")
    assert pbx.callgroup_members("incoming") == [["202"]]


async def test_add_and_delete_callgroup(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    await ref_client.add_callgroup(
        "Vendite", [priority("1", "201", "*72")], ring_timeout=15, selection="600"
    )
    assert shape(sent_xml(pbx, "POST", "/pbx/callgroups")) == [
        (
            "callgroup",
            [
                ("name", "Vendite"),
                ("timeout", "15"),
                ("selection", "600"),
                ("enabled", "true"),
                (
                    "priorities",
                    [
                        (
                            "priority",
                            [
                                ("id", "1"),
                                (
                                    "members",
                                    [
                                        ("member", [("exten", "201")]),
                                        ("member", [("exten", "*72")]),
                                    ],
                                ),
                            ],
                        )
                    ],
                ),
            ],
        )
    ]
    await ref_client.delete_callgroup("incoming", request_id="del-1")
    (deleted,) = pbx.seen("DELETE", GROUP)
    assert deleted.body == b""


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("callgroup_error_13.xml", 13),
        ("callgroup_error_15.xml", 15),
        ("callgroup_error_17.xml", 17),
    ],
)
async def test_callgroup_write_errors(
    ref_client: KalliopeClient, pbx: ReferencePbx, fixture: str, code: int
) -> None:
    pbx.answer("/pbx/callgroups", fixture=fixture)
    pbx.answer(GROUP, fixture=fixture)
    for write in (
        ref_client.add_callgroup("X"),
        ref_client.delete_callgroup("incoming"),
    ):
        with pytest.raises(KalliopeApiError) as err:
            await write
        assert err.value.code == code


async def test_bad_callgroup_input_is_refused_before_sending(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    group = await ref_client.callgroup("incoming")
    assert group is not None
    for priorities in (
        [priority("1", "20a")],
        [priority("1", "")],
        [priority("1", "201</exten><exten>999")],
        [priority("1", "201", "201")],
        [priority("1", "201"), priority("1", "202")],
        [priority(" ", "201")],
    ):
        with pytest.raises(KalliopeInputError):
            await ref_client.update_callgroup(replace(group, priorities=priorities))
        with pytest.raises(KalliopeInputError):
            await ref_client.set_callgroup_members("incoming", priorities)
    for refused in (
        ref_client.add_callgroup(" "),
        ref_client.add_callgroup("X", ring_timeout=0),
        ref_client.add_callgroup("X", selection="6#0x"),
        ref_client.update_callgroup(replace(group, id="../incoming")),
        ref_client.delete_callgroup("a/b"),
    ):
        with pytest.raises(KalliopeInputError):
            await refused
    assert pbx.writes() == []


async def test_members_of_a_group_the_pbx_lacks(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    """Nothing is read first: the PBX's own error 15 says so."""
    with pytest.raises(KalliopeApiError) as unknown:
        await ref_client.set_callgroup_members("42", [priority("1", "201")])
    assert unknown.value.code == 15
    assert pbx.callgroups.keys() == {"incoming"}


async def test_vm_enabled_alone_changes_nothing_else(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    before = {child.tag: child.text for child in pbx.config("201")}
    await ref_client.update_user_config("201", UserUpdate(vm_enabled=False))
    assert shape(sent_xml(pbx, "PUT", "/users/configs/201")) == [
        ("user", [("vm_enabled", "false")])
    ]
    after = {child.tag: child.text for child in pbx.config("201")}
    assert after == {**before, "vm_enabled": "false"}
    config = await ref_client.user_config("201")
    assert config is not None
    assert config.vm_enabled is False


async def test_restart_and_halt_answers(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    pbx.answer("/system/restart", fixture="system_restarted.xml")
    pbx.answer("/system/halt", fixture="system_halted.xml")
    assert await ref_client.restart_system() is True
    assert await ref_client.halt_system(request_id="halt-1") is True
    assert pbx.writes() == [("PUT", "/system/restart"), ("PUT", "/system/halt")]
    assert b"<request_id>halt-1</request_id>" in pbx.seen("PUT", "/system/halt")[0].body
    pbx.answer(
        "/system/halt",
        "<kpbx_response><system_halted>false</system_halted></kpbx_response>",
    )
    assert await ref_client.halt_system() is False


# ---------------------------------------------------------------- simulator


async def test_callgroup_writes_on_the_simulator(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    assert await client.apply() is True
    await client.add_callgroup(
        "Amministrazione", [priority("1", "202", "201")], ring_timeout=25
    )
    assert state.pending
    (new,) = [g for g in await client.callgroups() if g.name == "Amministrazione"]
    assert (new.timeout, [m.exten for m in new.priorities[0].members]) == (
        25,
        ["202", "201"],
    )
    assert state.callgroups[new.id].priorities[0].members == ("202", "201")

    sales = await client.callgroup("1")
    assert sales is not None
    await client.set_callgroup_members(
        "1", [priority("1", "203"), priority("2", "202", "201")]
    )
    after = await client.callgroup("1")
    assert after is not None
    assert replace(after, priorities=()) == replace(sales, priorities=())
    assert [(p.id, [m.exten for m in p.members]) for p in after.priorities] == [
        ("1", ["203"]),
        ("2", ["202", "201"]),
    ]
    await client.update_callgroup(replace(after, name="Vendite Italia", enabled=False))
    assert (state.callgroups["1"].name, state.callgroups["1"].enabled) == (
        "Vendite Italia",
        False,
    )
    assert [(p.id, p.members) for p in state.callgroups["1"].priorities] == [
        (1, ("203",)),
        (2, ("202", "201")),
    ]

    await client.delete_callgroup(new.id)
    assert new.id not in state.callgroups
    for write, code in (
        (client.delete_callgroup("incoming"), 17),
        (client.delete_callgroup(new.id), 15),
        (client.update_callgroup(replace(after, id="77")), 15),
        (client.set_callgroup_members("1", [priority("1", "299")]), 14),
    ):
        with pytest.raises(KalliopeApiError) as err:
            await write
        assert err.value.code == code
    assert await client.revert() is True
    assert state.callgroups["1"].name == sales.name
    assert await client.callgroup(new.id) is None


async def test_vm_enabled_alone_on_the_simulator(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    before = state.extensions["202"]
    await client.update_user_config("202", UserUpdate(vm_enabled=not before.vm_enabled))
    assert state.extensions["202"] == replace(before, vm_enabled=not before.vm_enabled)


@pytest.mark.parametrize(
    ("method", "count", "down_key"),
    [
        ("restart_system", "system_restarts", "restart_s"),
        ("halt_system", "system_halts", "halt_s"),
    ],
)
async def test_restart_and_halt_make_the_simulator_unreachable_for_a_while(
    session: aiohttp.ClientSession, method: str, count: str, down_key: str
) -> None:
    state = build_scenario(5, auth="v3", seed=1)
    state.set_power_times(**{down_key: 0.6})
    async with run_simulator(state) as sim:
        client = KalliopeClient(
            session,
            sim.host,
            port=sim.port,
            credentials=credentials_for(state),
            timeout=5,
        )
        await client.update_user_config("201", UserUpdate(first_name="Unsaved"))
        assert await client.pending() is True
        assert await getattr(client, method)() is True
        assert getattr(state, count) == 1
        with pytest.raises(KalliopeConnectionError):
            await client.pending()
        await asyncio.sleep(0.7)
        # Back, without what was never applied (the reference: lost on reboot).
        assert await client.pending() is False
        config = await client.user_config("201")
        assert config is not None
        assert config.first_name != "Unsaved"
