"""`HubError` and its kinds: what handlers raise and host calls report.

Each subclass is one case of the WIT `hub-error` variant. Raised from a hub
method, the client reads it as

    An unexpected error occurred invoking '<Method>' on the server. <Kind>: <message>

(`Internal` reads `HubException`), except `MethodNotFound`, which reads
`Unknown hub method '<Method>'`. Any other exception a method lets escape is
reported as `Internal` with the text `<ExceptionType>: <message>`.
"""

from componentize_py_types import Err
from wit_world.imports import types as _wit


class HubError(Exception):
    """Why a hub call or a host call failed. Use one of the subclasses."""

    #: The kind as the client sees it.
    kind = "HubException"
    #: The WIT variant case this kind crosses the boundary as.
    _wit = _wit.HubError_Internal

    def __init__(self, message: str):
        super().__init__(message)
        self.message = str(message)

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.message == other.message

    def __hash__(self) -> int:
        return hash((type(self), self.message))

    def to_wit(self) -> Err:
        """The `Err(hub-error)` that a WIT export raises for this error."""
        return Err(self._wit(self.message))


class MethodNotFound(HubError):
    """No hub method has this name; carries the name the client used."""

    kind = "MethodNotFound"
    _wit = _wit.HubError_MethodNotFound


class InvalidArgument(HubError):
    """The arguments do not fit the method, or a value is not acceptable."""

    kind = "InvalidArgument"
    _wit = _wit.HubError_InvalidArgument


class Unauthorized(HubError):
    """The caller may not do this."""

    kind = "Unauthorized"
    _wit = _wit.HubError_Unauthorized


class NotFound(HubError):
    """A connection, user or group the call names does not exist."""

    kind = "NotFound"
    _wit = _wit.HubError_NotFound


class Timeout(HubError):
    """Something took longer than allowed."""

    kind = "Timeout"
    _wit = _wit.HubError_Timeout


class NoClientResponded(HubError):
    """`invoke_one`/`invoke_all` got no result; the message says why."""

    kind = "NoClientResponded"
    _wit = _wit.HubError_NoClientResponded


class Unavailable(HubError):
    """The host (or another node of its cluster) cannot serve this now."""

    kind = "Unavailable"
    _wit = _wit.HubError_Unavailable


class Internal(HubError):
    """Anything else: a bug or a failure the caller cannot fix."""

    kind = "HubException"
    _wit = _wit.HubError_Internal


class WrongInvocation(HubError):
    """A streaming method invoked without `stream()`, or a plain one with
    it; the message is the client's whole error text."""

    kind = "WrongInvocation"
    _wit = _wit.HubError_WrongInvocation


_FROM_WIT = {
    cls._wit: cls
    for cls in (
        MethodNotFound,
        InvalidArgument,
        Unauthorized,
        NotFound,
        Timeout,
        NoClientResponded,
        Unavailable,
        Internal,
        WrongInvocation,
    )
}


def from_wit(error) -> HubError:
    """The `HubError` for a WIT `hub-error` value."""
    return _FROM_WIT.get(type(error), Internal)(getattr(error, "value", str(error)))


def host_call(fn, *args):
    """Calls a WIT import, turning its `Err(hub-error)` into a `HubError`."""
    try:
        return fn(*args)
    except Err as err:
        raise from_wit(err.value) from None


def from_exception(error: BaseException) -> HubError:
    """What an exception escaping a handler becomes: itself when it is a
    `HubError`, else `Internal("<Type>: <message>")`."""
    if isinstance(error, HubError):
        return error
    text = str(error)
    name = type(error).__name__
    return Internal(f"{name}: {text}" if text else name)
