"""Write wasmhub hubs in Python.

A hub is a Python module (by convention `app.py`) built with componentize-py
against `wit/hub.wit`, world `hub`:

    from wasmhub import Accepted, Context, Hub, InvalidArgument, clients, groups

    hub = Hub()

    @hub.method("Join")
    def join(ctx: Context, room: str) -> None:
        groups.add(ctx.connection_id, room)

    @hub.method("Send")
    def send(ctx: Context, room: str, text: str) -> None:
        clients.with_group(room).send("Message", {"room": room, "from": ctx.user, "text": text})

    @hub.on_connected
    def connected(ctx: Context):
        name = ctx.query("name")
        if not name:
            raise InvalidArgument("connect with ?name=<you>")
        return Accepted(user=name)

    Handler = hub.handler()   # what componentize-py exports

- `Hub` maps method names (case-insensitive) to functions taking the
  `Context` and the method's arguments; results are encoded as JSON.
- `@hub.stream` registers a generator as a streaming method; `ctx.upload(i)`
  reads a client's upload stream; `streams.sleep(s)` waits outside the
  hub's deadline (see `wasmhub.streams`).
- `clients` sends to and invokes clients, `groups` changes group membership,
  `presence` tells who is online, `log` writes to the host's log (and
  `print()` does too).
- `kv` keeps the hub's state and `http` calls other services (urllib's
  shape: `http.urlopen(url)`), both granted in the hub's manifest.
- `now()` (milliseconds since the Unix epoch) and `random_bytes(n)` come
  from the host; `time.time()`, `os.urandom()` and `secrets` work too (the
  SDK points them at the host on its first call).
- Raise a `HubError` subclass (`NotFound`, `InvalidArgument`, ...) to fail a
  call with that kind; other exceptions reach the client as `HubException`.
- Hubs keep no state in memory that must survive: an instance may be
  recycled after any call. State belongs in groups, users and attributes.

See docs/hubs-python.md.
"""

from . import clients, groups, http, kv, log, presence, streams, system
from .clients import ClientResult, Selection
from .errors import (
    HubError,
    Internal,
    InvalidArgument,
    MethodNotFound,
    NoClientResponded,
    NotFound,
    Timeout,
    Unauthorized,
    Unavailable,
    WrongInvocation,
)
from .hub import BINDING_ERROR, Accepted, Context, Hub, from_json, to_json
from .system import now, random_bytes


__all__ = [
    "Accepted",
    "BINDING_ERROR",
    "ClientResult",
    "Context",
    "Hub",
    "HubError",
    "Internal",
    "InvalidArgument",
    "MethodNotFound",
    "NoClientResponded",
    "NotFound",
    "Selection",
    "Timeout",
    "Unauthorized",
    "Unavailable",
    "WrongInvocation",
    "clients",
    "from_json",
    "groups",
    "http",
    "kv",
    "log",
    "now",
    "presence",
    "random_bytes",
    "streams",
    "system",
    "to_json",
]
