"""Authentication schemes: the vendor's 4.x test vector, and secrets kept out of sight."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
import re

from custom_components.kalliopepbx.api import (
    AuthDetection,
    AuthScheme,
    BasicCredentials,
    DigestCredentials,
    credentials_from_dict,
)
from custom_components.kalliopepbx.api.auth import (
    digest_password,
    md5_hex,
    new_nonce,
    request_digest,
)

VECTOR_SALT = "b5a8fdcf2f8d5acdad33c4a072a97d7a"
VECTOR_DIGEST_PASSWORD = (
    "dd7b0be7fa37d6cbaf0b842bf7532f229cb79ab8d54d509c2aa7eea27a53cd5e"
)
VECTOR_NONCE = "bfb79078ff44c35714af28b7412a702b"
VECTOR_CREATED = datetime(2016, 4, 29, 15, 48, 26, tzinfo=UTC)
VECTOR_DIGEST = "+PJg7Tb3v98XnL6iJVv+v5hwhYjdzQ2tIWxvJB2cE40="


def test_vendor_test_vector() -> None:
    assert digest_password("admin", VECTOR_SALT) == VECTOR_DIGEST_PASSWORD
    assert (
        request_digest(
            VECTOR_NONCE,
            VECTOR_DIGEST_PASSWORD,
            "admin",
            "default",
            "2016-04-29T15:48:26Z",
        )
        == VECTOR_DIGEST
    )
    credentials = DigestCredentials.from_password("admin", VECTOR_SALT)
    header = credentials.headers(VECTOR_CREATED, nonce=VECTOR_NONCE)["X-authenticate"]
    assert header == (
        'RestApiUsernameToken Username="admin", Domain="default", '
        f'Digest="{VECTOR_DIGEST}", Nonce="{VECTOR_NONCE}", Created="2016-04-29T15:48:26Z"'
    )


def test_created_is_utc_whatever_the_clock_zone() -> None:
    from datetime import timedelta, timezone

    rome = timezone(timedelta(hours=2))
    credentials = DigestCredentials.from_password("admin", VECTOR_SALT)
    header = credentials.headers(
        datetime(2016, 4, 29, 17, 48, 26, tzinfo=rome), nonce=VECTOR_NONCE
    )
    assert 'Created="2016-04-29T15:48:26Z"' in header["X-authenticate"]
    assert VECTOR_DIGEST in header["X-authenticate"]


def test_every_request_gets_a_fresh_nonce() -> None:
    credentials = DigestCredentials.from_password("admin", VECTOR_SALT)
    now = datetime.now(UTC)
    nonces = {
        re.search(
            r'Nonce="([0-9a-f]+)"', credentials.headers(now)["X-authenticate"]
        ).group(1)
        for _ in range(2000)
    }
    assert len(nonces) == 2000
    assert all(len(nonce) >= 8 for nonce in nonces)
    assert re.fullmatch(r"[0-9a-f]{32}", new_nonce())


def test_v3_basic_header_uses_md5_of_password() -> None:
    credentials = BasicCredentials.from_password("admin")
    assert (
        credentials.password_md5
        == "21232f297a57a5a743894a0e4a801fc3"
        == md5_hex("admin")
    )
    header = credentials.headers(datetime.now(UTC))["Authorization"]
    assert (
        base64.b64decode(header.removeprefix("Basic "))
        == b"admin:21232f297a57a5a743894a0e4a801fc3"
    )


def test_credentials_hold_no_plaintext_and_hide_secrets_in_repr() -> None:
    password = "Sup3r-Secret!"
    basic = BasicCredentials.from_password(password)
    digest = DigestCredentials.from_password(password, VECTOR_SALT, domain="tenant1")
    for credentials in (basic, digest):
        stored = credentials.as_dict()
        assert password not in repr(stored)
        for text in (repr(credentials), str(credentials)):
            assert password not in text
            assert basic.password_md5 not in text
            assert digest.password_digest not in text
            assert VECTOR_SALT not in text
    assert "tenant1" in repr(digest)


def test_stored_credentials_round_trip() -> None:
    basic = BasicCredentials.from_password("x", username="root")
    digest = DigestCredentials.from_password("y", "salt", domain="d")
    assert credentials_from_dict(basic.as_dict()) == basic
    assert credentials_from_dict(digest.as_dict()) == digest
    assert basic.as_dict()["scheme"] == AuthScheme.V3_BASIC
    assert digest.as_dict()["scheme"] == AuthScheme.V4_DIGEST


def test_detection_derives_matching_credentials() -> None:
    v4 = AuthDetection(AuthScheme.V4_DIGEST, VECTOR_SALT).credentials("admin")
    assert isinstance(v4, DigestCredentials)
    assert v4.password_digest == VECTOR_DIGEST_PASSWORD
    v3 = AuthDetection(AuthScheme.V3_BASIC).credentials("admin", username="admin")
    assert isinstance(v3, BasicCredentials)
    assert VECTOR_SALT not in repr(AuthDetection(AuthScheme.V4_DIGEST, VECTOR_SALT))
