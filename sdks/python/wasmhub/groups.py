"""Group membership of any connection of this hub."""

from wit_world.imports import groups as _wit

from .errors import host_call


def add(connection_id: str, group: str) -> None:
    """Adds the connection to `group`; `NotFound` when it does not exist."""
    host_call(_wit.add, connection_id, group)


def remove(connection_id: str, group: str) -> None:
    """Removes the connection from `group`; not being in it is not an error."""
    host_call(_wit.remove, connection_id, group)
