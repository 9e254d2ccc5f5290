"""Extensions with keypad symbols (`*72`, `10#`) in every client path, and
phonebook search answers however they wrap the contacts.

A recording stand-in PBX shows the exact request path, still percent-encoded.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
import pytest

from custom_components.kalliopepbx.api import (
    BasicCredentials,
    Click2CallType,
    Failover,
    FailoverType,
    KalliopeApiError,
    KalliopeClient,
    KalliopeInputError,
    PhonebookFilter,
    UserUpdate,
)
from tests.conftest import load_fixture_bytes
from tests.reference_pbx import Canned, ReferencePbx, bare_pbx


def client_for(session: aiohttp.ClientSession, pbx: ReferencePbx) -> KalliopeClient:
    return KalliopeClient(
        session,
        "127.0.0.1",
        port=pbx.port,
        credentials=BasicCredentials.from_password("admin"),
        timeout=5,
    )


def fixture(name: str) -> Canned:
    return Canned(load_fixture_bytes(name))


async def test_star_extension_paths(session: aiohttp.ClientSession) -> None:
    """`*72`: registration, voicemail count, user configuration read and write."""
    answers = {
        "/rest/users/registrations/%2A72": fixture("registration_star72.xml"),
        "/rest/voicemails/count/%2A72": fixture("voicemail_count.xml"),
        "/rest/users/configs/%2A72": fixture("user_saved.xml"),
    }
    async with bare_pbx(answers) as pbx:
        client = client_for(session, pbx)
        registration = await client.registration("*72")
        assert registration is not None
        assert (registration.exten, registration.registered) == ("*72", True)
        count = await client.voicemail_count("*72")
        assert (count.mailbox, count.new, count.urgent, count.old) == ("*72", 3, 1, 12)
        await client.update_user_config("*72", UserUpdate(vm_enabled=False))
        await client.set_failover(
            "*72", Failover(FailoverType.FORWARD_TO_EXTERNAL_NUMBER, "0212345678")
        )
    assert [(r.method, r.raw_path) for r in pbx.requests] == [
        ("GET", "/rest/users/registrations/%2A72"),
        ("GET", "/rest/voicemails/count/%2A72"),
        ("PUT", "/rest/users/configs/%2A72"),
        ("PUT", "/rest/users/configs/%2A72"),
    ]


async def test_hash_extension_paths(session: aiohttp.ClientSession) -> None:
    """`10#`: a raw `#` would cut the path short, so it is sent as `%23`."""
    answers = {
        "/rest/users/configs/10%23": fixture("user_config_10hash.xml"),
        "/rest/users/registrations/10%23": fixture("registration_star72.xml"),
        "/rest/voicemails/count/10%23": fixture("voicemail_count_empty.xml"),
    }
    async with bare_pbx(answers) as pbx:
        client = client_for(session, pbx)
        config = await client.user_config("10#")
        assert config is not None
        assert config.exten == "10#"
        assert config.failover is not None
        assert config.failover.destination == "10#"
        assert await client.registration("10#") is not None
        count = await client.voicemail_count("10#")
        assert (count.mailbox, count.new, count.urgent, count.old) == ("10#", 0, 0, 0)
        pbx.answers["/rest/users/configs/10%23"] = fixture("user_saved.xml")
        await client.set_failover("10#", Failover(FailoverType.FORWARD_TO_VOICEMAIL))
    assert pbx.paths == [
        "/rest/users/configs/10%23",
        "/rest/users/registrations/10%23",
        "/rest/voicemails/count/10%23",
        "/rest/users/configs/10%23",
    ]


async def test_click2call_from_a_star_extension(
    session: aiohttp.ClientSession,
) -> None:
    """Click-to-call names the extension in the body, escaped by the XML writer."""
    bodies: list[bytes] = []

    async def click2call(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(
            body=load_fixture_bytes("click2call_ok.xml"), content_type="text/xml"
        )

    async with bare_pbx({"/rest/click2call": click2call}) as pbx:
        await client_for(session, pbx).click2call("*72", "10#", Click2CallType.EXTEN)
    assert pbx.paths == ["/rest/click2call"]
    assert b"<exten>*72</exten>" in bodies[0]
    assert b"<number_to_call>10#</number_to_call>" in bodies[0]


@pytest.mark.parametrize("value", ["..", ".x", "a/b", "a?b", "a%2Fb", "201\n", ""])
async def test_path_segments_still_refuse_what_could_escape(
    session: aiohttp.ClientSession, value: str
) -> None:
    async with bare_pbx() as pbx:
        with pytest.raises(KalliopeInputError):
            await client_for(session, pbx).registration(value)
    assert pbx.requests == []


# ---------------------------------------------------------------- phonebook search

ANNA = (
    b"<contact><id>7</id><first_name>Anna</first_name>"
    b"<last_name>Esposito</last_name><type>system</type>"
    b"<phone>+390212345678</phone></contact>"
)
MARCO = (
    b"<contact><id>9</id><first_name>Marco</first_name>"
    b"<last_name>Neri</last_name><type>private</type>"
    b"<phone>0612345678</phone></contact>"
)


def response(inner: bytes) -> bytes:
    return b'<?xml version="1.0"?>\n<kpbx_response>' + inner + b"</kpbx_response>"


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        pytest.param(load_fixture_bytes("contacts.xml"), ["7", "8"], id="list"),
        pytest.param(
            response(b"<contacts>" + ANNA + b"</contacts>"), ["7"], id="list-of-one"
        ),
        pytest.param(response(ANNA), ["7"], id="one-without-list"),
        pytest.param(response(ANNA + MARCO), ["7", "9"], id="many-without-list"),
        pytest.param(
            response(b"<search>" + ANNA + MARCO + b"</search>"),
            ["7", "9"],
            id="list-in-another-wrapper",
        ),
        pytest.param(response(b"<contacts/>"), [], id="empty-list"),
        pytest.param(response(b""), [], id="empty-answer"),
        pytest.param(b'<?xml version="1.0"?>\n<kpbx_response/>', [], id="empty-root"),
    ],
)
async def test_phonebook_search_answer_shapes(
    session: aiohttp.ClientSession, body: bytes, ids: list[str]
) -> None:
    async with bare_pbx({"/rest/phonebook/search": Canned(body)}) as pbx:
        found = await client_for(session, pbx).search_phonebook(
            PhonebookFilter(any="%a%")
        )
    assert [contact.id for contact in found] == ids


@pytest.mark.parametrize(
    "inner",
    [
        b"<contacts><error><code>19</code><message>Invalid filter request</message>"
        b"</error></contacts>",
        b"<contact><error><code>19</code><message>Invalid filter request</message>"
        b"</error></contact>",
    ],
    ids=["on-the-list", "on-a-contact"],
)
async def test_phonebook_search_error_is_raised(
    session: aiohttp.ClientSession, inner: bytes
) -> None:
    async with bare_pbx({"/rest/phonebook/search": Canned(response(inner))}) as pbx:
        with pytest.raises(KalliopeApiError) as err:
            await client_for(session, pbx).search_phonebook(PhonebookFilter(any="x"))
    assert err.value.code == 19
