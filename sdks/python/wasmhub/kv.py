"""The hub's own key-value store, shared by every node of the cluster.

Needs the grant in the hub's manifest (`<name>.toml` beside the `.wasm`:
`[grants]` then `kv = true`); without it every call raises
`Unauthorized`. Values are text; `get_json` and `set_json` keep Python
values as JSON.
"""

import json
from typing import Any, List, Optional

from wit_world.imports import kv as _wit

from .errors import Internal, host_call


def get(key: str) -> Optional[str]:
    """The value of `key`; None when it is absent or expired."""
    return host_call(_wit.get, key)


def set(key: str, value: str, ttl: Optional[float] = None) -> None:
    """Sets `key` to `value`; with `ttl` (seconds) it expires after that
    long, without it any expiry is cleared."""
    ttl_ms = None if ttl is None else max(1, int(ttl * 1000))
    host_call(_wit.set, key, value, ttl_ms)


def delete(key: str) -> bool:
    """Removes `key`; whether it was there."""
    return host_call(_wit.delete, key)


def increment(key: str, by: int = 1) -> int:
    """Adds `by` to the integer at `key` (0 when absent) and returns the
    sum; atomic across the cluster."""
    return host_call(_wit.increment, key, by)


def keys(prefix: str = "", limit: int = 1000) -> List[str]:
    """The keys that start with `prefix`, sorted, at most `limit`."""
    return host_call(_wit.keys, prefix, limit)


def get_json(key: str) -> Any:
    """The value of `key` read as JSON; None when absent."""
    text = get(key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise Internal(f"the value of '{key}' is not JSON: {error}") from None


def set_json(key: str, value: Any, ttl: Optional[float] = None) -> None:
    """Sets `key` to `value` as JSON."""
    set(key, json.dumps(value, separators=(",", ":")), ttl)
