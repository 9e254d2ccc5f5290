"""The reference-shaped PBX itself: it accepts exactly the credentials the
reference describes and keeps a written configuration until reverted."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from .reference_pbx import PASSWORD, md5_hex, reference_pbx

pytestmark = pytest.mark.usefixtures("socket_enabled")

# The vendor's 4.x test vector (password `admin`, the fake's salt).
VECTOR = (
    'RestApiUsernameToken Username="admin", Domain="default",'
    ' Digest="+PJg7Tb3v98XnL6iJVv+v5hwhYjdzQ2tIWxvJB2cE40=",'
    ' Nonce="bfb79078ff44c35714af28b7412a702b", Created="2016-04-29T15:48:26Z"'
)


def basic(password_md5: str) -> dict[str, str]:
    token = base64.b64encode(f"admin:{password_md5}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_credentials_as_the_reference_describes() -> None:
    async with reference_pbx(version=4) as v4, reference_pbx() as v3:
        base4 = f"http://{v4.host}:{v4.port}/rest"
        base3 = f"http://{v3.host}:{v3.port}/rest"
        async with aiohttp.ClientSession() as session:
            salt = await session.get(f"{base4}/salt/default")
            assert (await salt.json())["salt"] == "b5a8fdcf2f8d5acdad33c4a072a97d7a"
            ok = await session.get(
                f"{base4}/pbx/pending", headers={"X-authenticate": VECTOR}
            )
            forged = await session.get(
                f"{base4}/pbx/pending",
                headers={"X-authenticate": VECTOR.replace("+PJg", "+PJh")},
            )
            assert (ok.status, forged.status) == (200, 401)
            assert (await session.get(f"{base3}/salt/default")).status == 404
            right = await session.get(
                f"{base3}/pbx/pending", headers=basic(md5_hex(PASSWORD))
            )
            wrong = await session.get(
                f"{base3}/pbx/pending", headers=basic(md5_hex("nope"))
            )
            assert (right.status, wrong.status) == (200, 401)


async def test_written_config_is_pending_until_applied_or_reverted() -> None:
    put = (
        b"<kpbx_request><user><failover><type>HANGUP</type></failover>"
        b"</user></kpbx_request>"
    )
    async with reference_pbx() as pbx, aiohttp.ClientSession() as session:
        base = f"http://{pbx.host}:{pbx.port}/rest"
        auth = basic(md5_hex(PASSWORD))
        saved = await session.put(f"{base}/users/configs/201", data=put, headers=auth)
        assert b"<code>0</code>" in await saved.read()
        read = await session.get(f"{base}/users/configs/201", headers=auth)
        assert b"<type>HANGUP</type>" in await read.read()
        pending = await session.get(f"{base}/pbx/pending", headers=auth)
        assert b"<pbx_pending>true</pbx_pending>" in await pending.read()
        await session.put(f"{base}/pbx/revert", headers=auth)
        assert pbx.failover("201")["type"] == "FORWARD_TO_EXTERNAL_NUMBER"
        assert pbx.pending is False
        unknown = await session.put(f"{base}/users/configs/299", data=put, headers=auth)
        assert b"<code>15</code>" in await unknown.read()
