"""Sending to clients and asking them for results.

Start from `all()`, `caller()`, `connection(id)`, `with_user(user)`,
`with_group(group)` or `with_attribute(key, value)`, narrow the
`Selection`, then `send`, `invoke_one` or `invoke_all`:

    clients.with_group(room).except_([ctx.connection_id]).send("Message", msg)
    answer = clients.with_user("bob").invoke_one("Question", "lunch?", timeout=5)

A selection is a plain value built in the hub's memory (the WIT `selector`
record: every condition must hold); nothing crosses to the host until
`send`, `invoke_one`, `invoke_all` or `connection_ids`, which the host
resolves on every node of a cluster.

Arguments are passed as they are (`send("Message", a, b)` calls the
client's `Message(a, b)`) and encoded as JSON.
"""

import dataclasses
from typing import Any, List, Optional, Tuple

from componentize_py_types import Ok
from wit_world.imports import clients as _wit
from wit_world.imports import types as _types

from .errors import host_call
from .hub import current_caller, from_json, to_json

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


def _text(value, what: str) -> str:
    """`value`, which must be a `str` (a `None` user would otherwise
    select the user "None")."""
    if not isinstance(value, str):
        raise TypeError(f"a {what} must be a str, not {type(value).__name__}")
    return value


def _timeout_ms(timeout: Optional[float]) -> Optional[int]:
    if timeout is None:
        return None
    return max(0, min(_U32_MAX, int(round(timeout * 1000))))


class Selection:
    """A set of this hub's connections: those meeting every condition given
    (none: every connection). Each narrowing step returns a new selection;
    the host resolves it when it is used."""

    __slots__ = ("_connection", "_user", "_groups", "_attributes", "_excluding")

    def __init__(
        self,
        connection: Optional[str] = None,
        user: Optional[str] = None,
        groups: Tuple[str, ...] = (),
        attributes: Tuple[Tuple[str, Optional[str]], ...] = (),
        excluding: Tuple[str, ...] = (),
    ):
        self._connection = connection
        self._user = user
        self._groups = tuple(groups)
        self._attributes = tuple(attributes)
        self._excluding = tuple(excluding)

    def _but(self, **changes) -> "Selection":
        fields = dict(
            connection=self._connection,
            user=self._user,
            groups=self._groups,
            attributes=self._attributes,
            excluding=self._excluding,
        )
        fields.update(changes)
        return Selection(**fields)

    def with_user(self, user: str) -> "Selection":
        """Only connections of this user. A second, different user selects
        nobody (a connection has one user)."""
        user = _text(user, "user")
        if self._user is not None and self._user != user:
            # Keep both conditions: no connection has the id "".
            return self._but(connection="")
        return self._but(user=user)

    def with_group(self, group: str) -> "Selection":
        """Only connections in this group (and every group named before)."""
        return self._but(groups=self._groups + (_text(group, "group"),))

    def with_attribute(self, key: str, value: Optional[str] = None) -> "Selection":
        """Only connections with the attribute `key` (any value when `value`
        is None, else one matching it; `*` and `?` are wildcards)."""
        pattern = None if value is None else _text(value, "attribute value")
        return self._but(attributes=self._attributes + ((_text(key, "attribute key"), pattern),))

    def except_(self, connection_ids: List[str]) -> "Selection":
        """Without these connections (typically `[ctx.connection_id]`)."""
        if isinstance(connection_ids, str):
            connection_ids = [connection_ids]
        return self._but(excluding=self._excluding + tuple(_text(id, "connection id") for id in connection_ids))

    @property
    def selector(self) -> _types.Selector:
        """The WIT `selector` record this selection sends to the host."""
        return _types.Selector(
            connection=self._connection,
            user=self._user,
            groups=list(self._groups),
            attributes=list(self._attributes),
            excluding=list(self._excluding),
        )

    def send(self, method: str, *args: Any) -> None:
        """Fire and forget: calls `method(*args)` on every selected client.
        Nothing selected is not an error."""
        host_call(_wit.send, self.selector, method, to_json(list(args)))

    def invoke_one(self, method: str, *args: Any, timeout: Optional[float] = None) -> ClientResult:
        """Calls `method(*args)` on one selected client at a time until one
        answers, and returns that answer. Raises `NoClientResponded` when
        none did (its message says why each failed). `timeout` is in
        seconds for the whole call, capped by the host's `--invoke-timeout`
        (the default when None)."""
        result = host_call(
            _wit.invoke_one, self.selector, method, to_json(list(args)), _timeout_ms(timeout)
        )
        return ClientResult._from_wit(result)

    def invoke_all(self, method: str, *args: Any, timeout: Optional[float] = None) -> List[ClientResult]:
        """Calls `method(*args)` on every selected client at once and
        returns each one's answer or error, sorted by connection id."""
        results = host_call(
            _wit.invoke_all, self.selector, method, to_json(list(args)), _timeout_ms(timeout)
        )
        return [ClientResult._from_wit(result) for result in results]

    def connection_ids(self) -> List[str]:
        """The ids of the selected connections, sorted."""
        return host_call(_wit.connection_ids, self.selector)

    def __eq__(self, other) -> bool:
        return isinstance(other, Selection) and self.selector == other.selector

    def __hash__(self) -> int:
        return hash((self._connection, self._user, self._groups, self._attributes, self._excluding))

    def __repr__(self) -> str:
        parts = []
        if self._connection is not None:
            parts.append(f"connection={self._connection!r}")
        if self._user is not None:
            parts.append(f"user={self._user!r}")
        for name in ("groups", "attributes", "excluding"):
            value = getattr(self, f"_{name}")
            if value:
                parts.append(f"{name}={list(value)!r}")
        return f"Selection({', '.join(parts)})"


def all() -> Selection:  # noqa: A001 - mirrors the WIT name
    """Every connection of this hub."""
    return Selection()


def caller() -> Selection:
    """The connection whose call is running (`invoke` and `on_connected`);
    outside one, nobody (no connection has the id "")."""
    return Selection(connection=current_caller() or "")


def connection(connection_id: str) -> Selection:
    """One connection, by id."""
    return Selection(connection=_text(connection_id, "connection id"))


def with_user(user: str) -> Selection:
    """Every connection of `user`."""
    return all().with_user(user)


def with_group(group: str) -> Selection:
    """Every connection in `group`."""
    return all().with_group(group)


def with_attribute(key: str, value: Optional[str] = None) -> Selection:
    """Every connection with the attribute `key` (matching `value` if given)."""
    return all().with_attribute(key, value)
