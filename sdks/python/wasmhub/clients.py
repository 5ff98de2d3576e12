"""Sending to clients and asking them for results.

Start from `all()`, `caller()`, `connection(id)`, `with_user(user)`,
`with_group(group)` or `with_attribute(key, value)`, narrow the
`Selection`, then `send`, `invoke_one` or `invoke_all`:

    clients.with_group(room).except_([ctx.connection_id]).send("Message", msg)
    answer = clients.with_user("bob").invoke_one("Question", "lunch?", timeout=5)

Arguments are passed as they are (`send("Message", a, b)` calls the
client's `Message(a, b)`) and encoded as JSON.
"""

import dataclasses
from typing import Any, List, Optional

from componentize_py_types import Ok
from wit_world.imports import clients as _wit

from .errors import host_call
from .hub import from_json, to_json

_U32_MAX = 2**32 - 1


@dataclasses.dataclass
class ClientResult:
    """What one client answered: `ok` and its `value` (decoded JSON), or
    not `ok` and the `error` text (what its handler threw, a timeout, or
    that it disconnected)."""

    connection_id: str
    user: Optional[str]
    ok: bool
    value: Any = None
    error: Optional[str] = None

    @classmethod
    def _from_wit(cls, result) -> "ClientResult":
        outcome = result.value
        if isinstance(outcome, Ok):
            return cls(result.connection_id, result.user, True, from_json(outcome.value))
        return cls(result.connection_id, result.user, False, error=outcome.value)


def _timeout_ms(timeout: Optional[float]) -> Optional[int]:
    if timeout is None:
        return None
    return max(0, min(_U32_MAX, int(round(timeout * 1000))))


class Selection:
    """A set of this hub's connections, resolved by the host when used.
    Each narrowing step returns a new selection."""

    __slots__ = ("_inner",)

    def __init__(self, inner: _wit.Selection):
        self._inner = inner

    def with_user(self, user: str) -> "Selection":
        """Only connections of this user."""
        return Selection(self._inner.with_user(user))

    def with_group(self, group: str) -> "Selection":
        """Only connections in this group."""
        return Selection(self._inner.with_group(group))

    def with_attribute(self, key: str, value: Optional[str] = None) -> "Selection":
        """Only connections with the attribute `key` (any value when `value`
        is None, else one matching it; `*` and `?` are wildcards)."""
        return Selection(self._inner.with_attribute(key, value))

    def except_(self, connection_ids: List[str]) -> "Selection":
        """Without these connections (typically `[ctx.connection_id]`)."""
        if isinstance(connection_ids, str):
            connection_ids = [connection_ids]
        return Selection(self._inner.except_(list(connection_ids)))

    def send(self, method: str, *args: Any) -> None:
        """Fire and forget: calls `method(*args)` on every selected client.
        Nothing selected is not an error."""
        host_call(self._inner.send, method, to_json(list(args)))

    def invoke_one(self, method: str, *args: Any, timeout: Optional[float] = None) -> ClientResult:
        """Calls `method(*args)` on one selected client at a time until one
        answers, and returns that answer. Raises `NoClientResponded` when
        none did (its message says why each failed). `timeout` is in
        seconds per client; the host's `--invoke-timeout` when None."""
        result = host_call(self._inner.invoke_one, method, to_json(list(args)), _timeout_ms(timeout))
        return ClientResult._from_wit(result)

    def invoke_all(self, method: str, *args: Any, timeout: Optional[float] = None) -> List[ClientResult]:
        """Calls `method(*args)` on every selected client at once and
        returns each one's answer or error."""
        results = host_call(self._inner.invoke_all, method, to_json(list(args)), _timeout_ms(timeout))
        return [ClientResult._from_wit(result) for result in results]

    def connection_ids(self) -> List[str]:
        """The ids of the selected connections, sorted."""
        return host_call(self._inner.connection_ids)


def all() -> Selection:  # noqa: A001 - mirrors the WIT name
    """Every connection of this hub."""
    return Selection(_wit.all())


def caller() -> Selection:
    """The connection whose call is running (empty outside a call)."""
    return Selection(_wit.caller())


def connection(connection_id: str) -> Selection:
    """One connection, by id."""
    return Selection(_wit.connection(connection_id))


def with_user(user: str) -> Selection:
    """Every connection of `user`."""
    return Selection(_wit.with_user(user))


def with_group(group: str) -> Selection:
    """Every connection in `group`."""
    return Selection(_wit.with_group(group))


def with_attribute(key: str, value: Optional[str] = None) -> Selection:
    """Every connection with the attribute `key` (matching `value` if given)."""
    return Selection(_wit.with_attribute(key, value))
