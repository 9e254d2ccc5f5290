"""The one exception hierarchy the KalliopePBX client raises."""

from __future__ import annotations

import re

# Line breaks and other control characters (C0, DEL, C1, Unicode line and
# paragraph separators): PBX text carrying them could forge log lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_control(match: re.Match[str]) -> str:
    # repr escapes every one of them: `\n`, `\x1b`, `\u2028`.
    return repr(match.group())[1:-1]


def printable(value: str) -> str:
    """Text from the PBX made safe for one log line: control characters escaped."""
    return _CONTROL.sub(_escape_control, value)


class KalliopeError(Exception):
    """Base class: nothing else escapes the client."""


class KalliopeConnectionError(KalliopeError):
    """The PBX could not be reached: timeout, refused, DNS, TLS, reset."""


class KalliopeCertificateError(KalliopeConnectionError):
    """The PBX's TLS certificate is not trusted (self-signed, expired, wrong name)."""


class KalliopeAuthError(KalliopeError):
    """The PBX refused the credentials (HTTP 401/403)."""


class KalliopeClockSkewError(KalliopeAuthError):
    """A 4.x PBX refused the request and its clock is more than 5 minutes off ours.

    4.x rejects any request whose `Created` timestamp is off by more than five
    minutes, so a wrong clock looks exactly like a wrong password; the `Date`
    header of the refusal tells the two apart.
    """

    def __init__(self, skew_seconds: float) -> None:
        """Keep the measured skew (PBX clock minus ours) for the user."""
        super().__init__(f"PBX clock differs from ours by {skew_seconds:+.0f} s")
        self.skew_seconds = skew_seconds


class KalliopeLicenseError(KalliopeError):
    """The PBX answered `request_not_allowed`: its licence is missing or invalid.

    Codes from the reference: 1 licence missing, 2 expired, 3 disabled.
    """

    def __init__(self, code: int, message: str, endpoint: str) -> None:
        """Keep the licence code and the endpoint that was refused."""
        message = printable(message)
        super().__init__(f"{endpoint}: request not allowed ({code}: {message})")
        self.code = code
        self.message = message
        self.endpoint = endpoint


class KalliopeApiError(KalliopeError):
    """The PBX answered with a non-zero error code."""

    def __init__(self, code: int, message: str, endpoint: str) -> None:
        """Keep the PBX's own code and message and the endpoint."""
        message = printable(message)
        super().__init__(f"{endpoint}: error {code}: {message}")
        self.code = code
        self.message = message
        self.endpoint = endpoint


class KalliopeNotSupportedError(KalliopeError):
    """The PBX has no such endpoint (HTTP 404): its firmware lacks the feature."""

    def __init__(self, endpoint: str) -> None:
        """Keep the endpoint the firmware does not offer."""
        super().__init__(f"{endpoint}: not supported by this PBX (HTTP 404)")
        self.endpoint = endpoint


class KalliopeResponseError(KalliopeError):
    """The answer was unusable: not XML, truncated, wrong shape, HTTP 5xx."""

    def __init__(self, endpoint: str, reason: str, status: int | None = None) -> None:
        """Name the endpoint so the log says where it went wrong."""
        reason = printable(reason)
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason
        self.status = status


class KalliopeResponseTooLargeError(KalliopeResponseError):
    """The answer was larger than its endpoint can need: refused unread."""

    def __init__(self, endpoint: str, limit: int, status: int | None = None) -> None:
        """Keep the cap that was exceeded."""
        super().__init__(endpoint, f"answer larger than {limit} bytes", status)
        self.limit = limit


class KalliopeInputError(KalliopeError, ValueError):
    """A request was refused before sending: its input is invalid."""


class KalliopeUnsupportedFilterError(KalliopeInputError):
    """A call-record filter this firmware's records cannot answer.

    `filter` names the `CdrFilter` field; `value` is set when only that value
    is out of reach (a status the firmware never reports).
    """

    def __init__(self, filter_name: str, value: str | None = None) -> None:
        """Name the filter, and the value when only the value is the problem."""
        what = f"{filter_name} {value!r}" if value is not None else filter_name
        super().__init__(f"this firmware's call records cannot be filtered by {what}")
        self.filter = filter_name
        self.value = value


class KalliopeNotificationError(KalliopeError, ValueError):
    """A pushed event notification could not be decoded."""

    def __init__(self, reason: str) -> None:
        """Say what was wrong with it, safe for one log line."""
        reason = printable(reason)
        super().__init__(f"notification: {reason}")
        self.reason = reason
