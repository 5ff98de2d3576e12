"""Snapshots of who is connected to this hub. Results are sorted.

`connections*` return `ConnectionInfo` records (`id`, `user`, `node`,
`groups`, `attributes`); `online_users` returns `UserPresence` records
(`user`, `connections`, `nodes`).
"""

from typing import List, Optional

from wit_world.imports import presence as _wit
from wit_world.imports.types import ConnectionInfo, UserPresence

from .errors import host_call

__all__ = [
    "ConnectionInfo",
    "UserPresence",
    "connections",
    "connections_by_user",
    "connections_in_group",
    "connections_by_attribute",
    "online_users",
    "is_user_online",
]


def connections() -> List[ConnectionInfo]:
    """Every connection of this hub."""
    return host_call(_wit.connections)


def connections_by_user(user: str) -> List[ConnectionInfo]:
    """The connections of `user`."""
    return host_call(_wit.connections_by_user, user)


def connections_in_group(group: str) -> List[ConnectionInfo]:
    """The connections in `group`."""
    return host_call(_wit.connections_in_group, group)


def connections_by_attribute(key: str, value: Optional[str] = None) -> List[ConnectionInfo]:
    """The connections with attribute `key` (matching `value` if given)."""
    return host_call(_wit.connections_by_attribute, key, value)


def online_users() -> List[UserPresence]:
    """Every user with at least one connection to this hub."""
    return host_call(_wit.online_users)


def is_user_online(user: str) -> bool:
    """Whether `user` has a connection to this hub."""
    return host_call(_wit.is_user_online, user)
