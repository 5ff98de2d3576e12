"""Streams, both ways, and a sleep outside the hub's deadline.

A streaming method is a generator registered with `@hub.stream`: every
value it yields goes to the caller as it is produced, and the stream ends
when the generator returns (or early, when the caller cancels: the
generator is closed then). Upload streams a client attached to a call are
read with `ctx.upload(index)`:

    @hub.stream("Countdown")
    def countdown(ctx: Context, start: int):
        for n in range(start, 0, -1):
            if not streams.sleep(0.1):   # False once the caller cancelled
                return
            yield n

    @hub.method("Concat")
    def concat(ctx: Context) -> str:
        return "".join(ctx.upload(0))

Waiting here (the client draining items, the next upload item, a sleep)
is the host's time, not the hub's.
"""

from componentize_py_types import Err
from wit_world.imports import streams as _wit

from .errors import Internal, InvalidArgument, NotFound, Unavailable
from .hub import from_json


def _error(error) -> Exception:
    if isinstance(error, _wit.StreamError_Cancelled):
        return Unavailable("the caller cancelled the call or left")
    if isinstance(error, _wit.StreamError_UploadFailed):
        # Reads as `HubException: <text>`, as in ASP.NET Core.
        return Internal(error.value)
    if isinstance(error, _wit.StreamError_NoStream):
        return NotFound(error.value)
    return InvalidArgument(getattr(error, "value", str(error)))


def sleep(seconds: float) -> bool:
    """Sleeps `seconds` (at most the host's `--invoke-timeout` per call),
    not counted against the hub's deadline. False when it ended early
    because the caller cancelled the call or left: stop then."""
    return _wit.sleep(max(0, min(int(seconds * 1000), 2**32 - 1)))


def is_cancelled() -> bool:
    """True once the caller cancelled the running call or left."""
    return _wit.is_cancelled()


def upload_count() -> int:
    """How many upload streams the caller attached to the running call."""
    return _wit.upload_count()


def upload(index: int):
    """The items of upload stream `index` (0-based), decoded from JSON, as
    the client sends them; ends when the client completes the stream.
    Raises `Internal(<the client's error>)` when the client failed it."""
    while True:
        try:
            item = _wit.next_upload(index)
        except Err as err:
            raise _error(err.value) from None
        if item is None:
            return
        yield from_json(item)


def send_item(json_text: str) -> bool:
    """Sends one item (JSON text) of a streaming call; False when the
    caller cancelled."""
    try:
        _wit.send_item(json_text)
        return True
    except Err as err:
        if isinstance(err.value, _wit.StreamError_Cancelled):
            return False
        raise _error(err.value) from None
