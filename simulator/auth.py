"""The two authentication schemes: 3.x HTTP Basic (md5 of the admin password)
and 4.x `X-authenticate: RestApiUsernameToken …`."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
import hashlib
import hmac
import re

from .state import PbxState

USERNAME = "admin"
MAX_SKEW_S = 300.0
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_FIELD = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_NONCE = re.compile(r"^[0-9a-f]{8,128}$")


def request_digest(
    nonce: str, digest_password: str, username: str, domain: str, created: str
) -> str:
    """Digest = base64(sha256_binary(Nonce + digestPassword + Username + Domain + Created))."""
    raw = f"{nonce}{digest_password}{username}{domain}{created}".encode()
    return base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")


def check_basic(state: PbxState, header: str | None) -> str | None:
    """None when the 3.x Basic credentials are right, else why not."""
    if not header:
        return "missing credentials"
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return "not Basic authentication"
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "unreadable credentials"
    user, sep, password = decoded.partition(":")
    if not sep:
        return "unreadable credentials"
    user_ok = hmac.compare_digest(user.encode(), USERNAME.encode())
    password_ok = hmac.compare_digest(password.encode(), state.api_password.encode())
    return None if user_ok and password_ok else "wrong username or password"


def check_token(state: PbxState, header: str | None) -> str | None:
    """None when the 4.x X-authenticate header is valid (and burns its nonce)."""
    if not header:
        return "missing X-authenticate header"
    scheme, _, rest = header.strip().partition(" ")
    if scheme != "RestApiUsernameToken":
        return "not a RestApiUsernameToken"
    fields = dict(_FIELD.findall(rest))
    try:
        username = fields["Username"]
        domain = fields["Domain"]
        digest = fields["Digest"]
        nonce = fields["Nonce"]
        created = fields["Created"]
    except KeyError as err:
        return f"missing {err.args[0]}"
    if username != USERNAME or domain != state.domain:
        return "wrong username or domain"
    if not _NONCE.match(nonce):
        return "invalid nonce"
    try:
        created_at = datetime.strptime(created, CREATED_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return "invalid Created timestamp"
    if abs((state.now() - created_at).total_seconds()) > MAX_SKEW_S:
        return "Created timestamp too far from the PBX clock"
    expected = request_digest(nonce, state.digest_password, username, domain, created)
    if not hmac.compare_digest(expected.encode(), digest.encode()):
        return "wrong digest"
    if not state.use_nonce(nonce):
        return "nonce already used"
    return None
