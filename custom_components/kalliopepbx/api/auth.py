"""Authentication schemes of the KalliopePBX REST API.

3.x: HTTP Basic with the md5 hex of the web admin password.
4.x: a single-use `X-authenticate` header built from a per-tenant salt.

Credentials objects keep only derived secrets, never the plaintext password,
and keep them out of `repr`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
import hashlib
import secrets
from typing import Any, ClassVar

DEFAULT_USERNAME = "admin"
DEFAULT_DOMAIN = "default"
MAX_CLOCK_SKEW_SECONDS = 300


class AuthScheme(StrEnum):
    """Which firmware family's authentication a PBX speaks."""

    V3_BASIC = "v3"
    V4_DIGEST = "v4"


def md5_hex(value: str) -> str:
    """Lower-case md5 hex digest, as 3.x expects for the API password."""
    return hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()


def digest_password(password: str, salt: str) -> str:
    """4.x `digestPassword = sha256_hex(password + "{" + salt + "}")`."""
    return hashlib.sha256(f"{password}{{{salt}}}".encode()).hexdigest()


def request_digest(
    nonce: str, password_digest: str, username: str, domain: str, created: str
) -> str:
    """4.x `Digest = base64(sha256(Nonce + digestPassword + Username + Domain + Created))`."""
    raw = f"{nonce}{password_digest}{username}{domain}{created}".encode()
    return base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")


def format_created(moment: datetime) -> str:
    """UTC `YYYY-MM-DDThh:mm:ssZ`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nonce() -> str:
    """A fresh random nonce: 32 lower-case hex characters."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """3.x credentials: the username and the md5 hex of the admin password."""

    scheme: ClassVar[AuthScheme] = AuthScheme.V3_BASIC
    username: str
    password_md5: str = field(repr=False)

    @classmethod
    def from_password(
        cls, password: str, username: str = DEFAULT_USERNAME
    ) -> BasicCredentials:
        """Derive the API secret from the web admin password."""
        return cls(username=username, password_md5=md5_hex(password))

    def headers(self, now: datetime) -> dict[str, str]:
        """The `Authorization` header; `now` is unused by this scheme."""
        token = base64.b64encode(f"{self.username}:{self.password_md5}".encode())
        return {"Authorization": f"Basic {token.decode('ascii')}"}

    def as_dict(self) -> dict[str, str]:
        """What a caller stores to rebuild these credentials later."""
        return {
            "scheme": self.scheme.value,
            "username": self.username,
            "password_md5": self.password_md5,
        }


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """4.x credentials: the salted password digest, never the password."""

    scheme: ClassVar[AuthScheme] = AuthScheme.V4_DIGEST
    username: str
    domain: str
    salt: str = field(repr=False)
    password_digest: str = field(repr=False)

    @classmethod
    def from_password(
        cls,
        password: str,
        salt: str,
        username: str = DEFAULT_USERNAME,
        domain: str = DEFAULT_DOMAIN,
    ) -> DigestCredentials:
        """Derive the digest from the password and the tenant's salt."""
        return cls(
            username=username,
            domain=domain,
            salt=salt,
            password_digest=digest_password(password, salt),
        )

    def headers(self, now: datetime, nonce: str | None = None) -> dict[str, str]:
        """A single-use `X-authenticate` header for one request."""
        nonce = nonce or new_nonce()
        created = format_created(now)
        digest = request_digest(
            nonce, self.password_digest, self.username, self.domain, created
        )
        return {
            "X-authenticate": (
                f'RestApiUsernameToken Username="{self.username}", '
                f'Domain="{self.domain}", Digest="{digest}", '
                f'Nonce="{nonce}", Created="{created}"'
            )
        }

    def as_dict(self) -> dict[str, str]:
        """What a caller stores to rebuild these credentials later."""
        return {
            "scheme": self.scheme.value,
            "username": self.username,
            "domain": self.domain,
            "salt": self.salt,
            "password_digest": self.password_digest,
        }


type Credentials = BasicCredentials | DigestCredentials


def credentials_from_dict(data: Mapping[str, Any]) -> Credentials:
    """Rebuild credentials stored with `as_dict`."""
    if data.get("scheme") == AuthScheme.V4_DIGEST.value:
        return DigestCredentials(
            username=str(data["username"]),
            domain=str(data["domain"]),
            salt=str(data["salt"]),
            password_digest=str(data["password_digest"]),
        )
    return BasicCredentials(
        username=str(data["username"]), password_md5=str(data["password_md5"])
    )


@dataclass(frozen=True, slots=True)
class AuthDetection:
    """What `KalliopeClient.detect` found: the scheme and, for 4.x, the salt."""

    scheme: AuthScheme
    salt: str | None = field(default=None, repr=False)

    def credentials(
        self,
        password: str,
        username: str = DEFAULT_USERNAME,
        domain: str = DEFAULT_DOMAIN,
    ) -> Credentials:
        """Derive the credentials this PBX needs from the admin password."""
        if self.scheme is AuthScheme.V4_DIGEST and self.salt is not None:
            return DigestCredentials.from_password(
                password, self.salt, username, domain
            )
        return BasicCredentials.from_password(password, username)
