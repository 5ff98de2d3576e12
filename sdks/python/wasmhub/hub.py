"""`Hub`: method names to plain functions, and the export glue.

    hub = Hub()

    @hub.method("Send")
    def send(ctx: Context, room: str, text: str) -> None: ...

    Handler = hub.handler()   # componentize-py exports the class `Handler`
"""

import dataclasses
import inspect
import json
import traceback
import typing
from typing import Any, Callable, Optional

from wit_world import exports
from wit_world.imports import caller as _caller
from wit_world.imports import types as _wit

from . import log, system
from .errors import (
    HubError,
    Internal,
    InvalidArgument,
    MethodNotFound,
    WrongInvocation,
    from_exception,
)

#: ASP.NET Core SignalR's text for arguments of the wrong type; clients
#: written against ASP.NET may match on it.
BINDING_ERROR = (
    "Error binding arguments. Make sure that the types of the provided values "
    "match the types of the hub method being invoked."
)


# ---------------------------------------------------------------------------
# JSON


def _default(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    """Compact JSON text for `value` (dicts, lists, str, numbers, bool, None
    and dataclasses). NaN and infinities are refused: JSON has none."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default
    )


def from_json(text: str) -> Any:
    """The value of JSON text."""
    return json.loads(text)


# ---------------------------------------------------------------------------
# Context and Accepted


class Context:
    """The connection a hub call is about, with lookups that follow the
    contract's naming rules.

    `connection_id` and `user` come with every call. The rest of the WIT
    `connection` record (`hub`, `node`, `transport`, `groups`, query,
    headers, attributes) comes with `on_connected` and `on_disconnected`;
    in a method it is fetched from the host (`caller.details()`) the first
    time one of them is read, once per call, so methods that need only the
    id and user pay for nothing else.
    """

    __slots__ = ("_id", "_user", "_details")

    def upload(self, index: int = 0):
        """Upload stream `index` of the running call (0-based, in the order
        the client attached them): an iterator of its items."""
        from . import streams

        return streams.upload(index)

    def upload_count(self) -> int:
        """How many upload streams the client attached to the running call."""
        from . import streams

        return streams.upload_count()

    def __init__(self, connection):
        """`connection` is a whole WIT `connection` record (also how to
        build a `Context` in your own unit tests), or a WIT `caller`
        (`id` and `user`; the rest is fetched when asked for)."""
        self._id = connection.id
        self._user = connection.user
        self._details = None if isinstance(connection, _wit.Caller) else connection

    @property
    def connection(self) -> _wit.Connection:
        """The whole WIT `connection` record, for anything the helpers do
        not cover. In a method, the first read asks the host for it; a
        caller that is already gone reads as a record with only its id and
        user."""
        details = self._details
        if details is None:
            try:
                details = _caller.details()
            except NotImplementedError:  # the bindings on CPython: no host
                details = None
            if details is None:
                details = _wit.Connection(
                    id=self._id,
                    user=self._user,
                    hub="",
                    node="",
                    transport="",
                    attributes=[],
                    groups=[],
                    query=[],
                    headers=[],
                )
            self._details = details
        return details

    @property
    def connection_id(self) -> str:
        """The public connection id, to address this connection later."""
        return self._id

    @property
    def user(self) -> Optional[str]:
        """The user id (a JWT's `sub`, or what `on_connected` chose), if any."""
        return self._user

    @property
    def hub(self) -> str:
        """The hub's name, as in `/hubs/<name>`."""
        return self.connection.hub

    @property
    def node(self) -> str:
        """The id of the node that owns the connection."""
        return self.connection.node

    @property
    def transport(self) -> str:
        """The transport name, e.g. `WebSockets`."""
        return self.connection.transport

    @property
    def groups(self) -> list:
        """The groups the connection is in, sorted: in a method, as of the
        first read of anything beyond `connection_id` and `user`."""
        return list(self.connection.groups)

    def query(self, name: str) -> Optional[str]:
        """A query parameter of the connect request. An exact name wins;
        otherwise names compare ASCII case-insensitively, as in ASP.NET."""
        pairs = self.connection.query
        for key, value in pairs:
            if key == name:
                return value
        folded = _ascii_lower(name)
        for key, value in pairs:
            if _ascii_lower(key) == folded:
                return value
        return None

    def header(self, name: str) -> Optional[str]:
        """A header of the connect request, by case-insensitive name."""
        folded = _ascii_lower(name)
        for key, value in self.connection.headers:
            if _ascii_lower(key) == folded:
                return value
        return None

    def attributes(self, key: str) -> list:
        """Every value of an attribute (key case-insensitive); empty when
        the connection does not have it."""
        folded = _ascii_lower(key)
        for name, values in self.connection.attributes:
            if _ascii_lower(name) == folded:
                return list(values)
        return []

    def attribute(self, key: str) -> Optional[str]:
        """The first value of an attribute (key case-insensitive)."""
        values = self.attributes(key)
        return values[0] if values else None

    def __repr__(self) -> str:
        return f"Context(connection_id={self._id!r}, user={self._user!r})"


# ---------------------------------------------------------------------------
# The running call


#: The id of the connection whose call is running (`invoke`,
#: `on_connected`), for `clients.caller()`; None between calls.
_current_caller: Optional[str] = None


def current_caller() -> Optional[str]:
    """The id of the connection whose call is running, if any."""
    return _current_caller


#: Whether the instance was set up (stdio to the log, clock and entropy
#: shims): on the host's first call into it, not at import (see `_setup`).
_ready = False


def _setup() -> None:
    """Once per instance, on the host's first call: `print()` to the host's
    log and the standard library's clocks and entropy to the `system`
    import. Not at import: the module is imported while componentize-py
    builds the component, when the host does not exist."""
    global _ready
    _ready = True
    log.redirect_stdio()
    system.install()


def _ascii_lower(text: str) -> str:
    """Lowercases ASCII letters only, as the contract compares names."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


@dataclasses.dataclass
class Accepted:
    """What `on_connected` decides about a connection it lets in: the user
    id to give it (`None` keeps the one it has)."""

    user: Optional[str] = None


# ---------------------------------------------------------------------------
# Argument binding


def _unexpected(value) -> str:
    """How serde_json names a JSON value it did not expect, so that binding
    errors read as in the Rust SDK (`invalid type: integer `5`, expected a
    string`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _checker(annotation) -> Optional[Callable[[Any], Optional[str]]]:
    """For a parameter annotation, a function that returns what the
    parameter expects (in serde's words) when a JSON value does not fit,
    else None; None instead of a function when anything fits."""
    if annotation in (inspect.Parameter.empty, Any, object):
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        args = typing.get_args(annotation)
        checks = [_checker(arg) for arg in args]
        if any(check is None for check in checks):
            return None
        # Optional[X] expects what X expects, as serde's Option<X> does.
        named = [c for a, c in zip(args, checks) if a is not type(None)]

        def union(value):
            failures = [check(value) for check in checks]
            if any(f is None for f in failures):
                return None
            return " or ".join(c(value) for c in named) if named else failures[0]

        return union
    base = origin or annotation
    if base is type(None) or annotation is None:
        return lambda value: None if value is None else "unit"
    if base is bool:
        return lambda value: None if isinstance(value, bool) else "a boolean"
    if base is int:
        return lambda value: None if isinstance(value, int) and not isinstance(value, bool) else "i64"
    if base is float:
        return lambda value: (
            None if isinstance(value, (int, float)) and not isinstance(value, bool) else "f64"
        )
    if base is str:
        return lambda value: None if isinstance(value, str) else "a string"
    if base in (list, tuple):
        return lambda value: None if isinstance(value, list) else "a sequence"
    if base is dict:
        return lambda value: None if isinstance(value, dict) else "a map"
    return None  # anything else: passed as decoded JSON, unchecked


class _Method:
    """One hub method: its function, arity and argument checks."""

    __slots__ = ("name", "fn", "arity", "checks", "floats")

    def __init__(self, name: str, fn: Callable):
        self.name = name
        self.fn = fn
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(f"hub method '{name}' must take the Context as its first parameter")
        params = params[1:]
        for param in params:
            if param.kind not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
            ):
                raise TypeError(
                    f"hub method '{name}': parameter '{param.name}' must be positional "
                    "(no *args, **kwargs or keyword-only parameters)"
                )
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # unresolvable annotations: check nothing
            hints = {}
        self.arity = len(params)
        self.checks = [_checker(hints.get(p.name, inspect.Parameter.empty)) for p in params]
        # A `float` parameter gets a float also when the client sent `2`.
        self.floats = [i for i, p in enumerate(params) if hints.get(p.name) is float]

    def bind(self, args_json: str) -> list:
        """The argument list from the invocation's JSON array, with
        ASP.NET's error texts when it does not fit."""
        try:
            values = from_json(args_json)
        except ValueError as error:
            raise InvalidArgument(f"{BINDING_ERROR} The arguments are not a JSON array: {error}") from None
        if not isinstance(values, list):
            raise InvalidArgument(f"{BINDING_ERROR} The arguments are not a JSON array.")
        if len(values) != self.arity:
            raise InvalidArgument(
                f"Invocation provides {len(values)} argument(s) but target expects {self.arity}."
            )
        for index, (value, check) in enumerate(zip(values, self.checks)):
            if check is not None:
                expected = check(value)
                if expected is not None:
                    raise InvalidArgument(
                        f"{BINDING_ERROR} Argument {index}: invalid type: {_unexpected(value)}, expected {expected}"
                    )
        for index in self.floats:
            values[index] = float(values[index])
        return values


# ---------------------------------------------------------------------------
# Hub


class Hub:
    """A hub: its methods, plus what happens when clients come and go.

    Register functions with the decorators, then export the hub from the
    app module as `Handler = hub.handler()`.
    """

    def __init__(self):
        self._methods = {}
        self._streams = set()
        self._init = None
        self._on_connected = None
        self._on_disconnected = None

    def method(self, name=None):
        """Registers a hub method: `@hub.method("Send")`, or bare
        `@hub.method` to use the function's own name. Names match
        case-insensitively. The function takes the `Context` and then one
        positional parameter per argument; annotations of `str`, `int`,
        `float`, `bool`, `list`, `dict` and `Optional[...]` are checked.
        It returns any JSON-encodable value (`None` is `null`)."""
        if callable(name):
            return self.method(None)(name)

        def register(fn):
            method = name or fn.__name__
            key = method.lower()
            if key in self._methods:
                raise ValueError(f"hub method '{method}' is defined twice")
            self._methods[key] = _Method(method, fn)
            return fn

        return register

    def stream(self, name=None):
        """Registers a streaming method: `@hub.stream("Countdown")` on a
        generator function (or one returning any iterable). The client
        calls it with `stream()`; every value it yields goes to the client
        as it is produced (see `wasmhub.streams`)."""
        if callable(name):
            return self.stream(None)(name)
        register = self.method(name)

        def register_stream(fn):
            register(fn)
            self._streams.add((name or fn.__name__).lower())
            return fn

        return register_stream

    def _check_kind(self, entry, streaming: bool) -> None:
        is_stream = entry.name.lower() in self._streams
        if is_stream and not streaming:
            raise WrongInvocation(
                f"The client attempted to invoke the streaming '{entry.name}' method with a non-streaming invocation."
            )
        if streaming and not is_stream:
            raise WrongInvocation(
                f"The client attempted to invoke the non-streaming '{entry.name}' method with a streaming invocation."
            )

    def init(self, fn):
        """`@hub.init`: runs once on every new instance, and when the host
        loads the file; raising there refuses the file."""
        self._init = fn
        return fn

    def on_connected(self, fn):
        """`@hub.on_connected`: `fn(ctx)` runs when a client completed its
        handshake. Return `None` to accept it as is, `Accepted(user=...)`
        to name its user; raise a `HubError` to refuse it."""
        self._on_connected = fn
        return fn

    def on_disconnected(self, fn):
        """`@hub.on_disconnected`: `fn(ctx, error)` runs when a client is
        gone; `error` says why when it did not close cleanly."""
        self._on_disconnected = fn
        return fn

    def methods(self) -> list:
        """The names of the registered methods, as registered."""
        return [m.name for m in self._methods.values()]

    def dispatch(self, ctx: Context, method: str, args_json: str) -> str:
        """Runs `method` with `args_json` (a JSON array) and returns its
        result as JSON text. Raises `HubError`s only."""
        entry = self._methods.get(method.lower())
        if entry is None:
            raise MethodNotFound(method)
        self._check_kind(entry, streaming=False)
        args = entry.bind(args_json)
        try:
            result = entry.fn(ctx, *args)
        except HubError:
            raise
        except Exception as error:
            _log_exception(f"hub method '{entry.name}' raised", error)
            raise from_exception(error) from None
        try:
            return to_json(result)
        except (TypeError, ValueError) as error:
            raise Internal(f"the result of '{entry.name}' is not JSON: {error}") from None

    def dispatch_stream(self, ctx: Context, method: str, args_json: str, emit) -> None:
        """Runs the streaming `method`, handing each item (JSON text) to
        `emit`, which returns False when the caller cancelled."""
        entry = self._methods.get(method.lower())
        if entry is None:
            raise MethodNotFound(method)
        self._check_kind(entry, streaming=True)
        args = entry.bind(args_json)
        try:
            items = iter(entry.fn(ctx, *args))
            for item in items:
                try:
                    text = to_json(item)
                except (TypeError, ValueError) as error:
                    raise Internal(f"an item of '{entry.name}' is not JSON: {error}") from None
                if not emit(text):
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()
                    return
        except HubError:
            raise
        except Exception as error:
            _log_exception(f"hub method '{entry.name}' raised", error)
            raise from_exception(error) from None

    def handler(self):
        """The class componentize-py exports as the WIT `handler`; assign
        it to `Handler` in the app module."""
        hub = self

        class Handler(exports.Handler):
            def init(self) -> None:
                if not _ready:
                    _setup()
                if hub._init is not None:
                    _guard("init", hub._init)

            def on_connected(self, conn: _wit.Connection) -> _wit.Accepted:
                global _current_caller
                if not _ready:
                    _setup()
                if hub._on_connected is None:
                    return _wit.Accepted(user=None)
                _current_caller = conn.id
                try:
                    accepted = _guard("on_connected", hub._on_connected, Context(conn))
                finally:
                    _current_caller = None
                if accepted is None:
                    return _wit.Accepted(user=None)
                if isinstance(accepted, str):
                    return _wit.Accepted(user=accepted)
                return _wit.Accepted(user=accepted.user)

            def on_disconnected(self, conn: _wit.Connection, error: Optional[str]) -> None:
                if not _ready:
                    _setup()
                if hub._on_disconnected is None:
                    return
                try:
                    hub._on_disconnected(Context(conn), error)
                except Exception as exc:  # nobody to tell but the log
                    _log_exception("on_disconnected raised", exc)

            def invoke(self, caller: _wit.Caller, method: str, args: str) -> str:
                global _current_caller
                if not _ready:
                    _setup()
                _current_caller = caller.id
                try:
                    return hub.dispatch(Context(caller), method, args)
                except HubError as error:
                    raise error.to_wit() from None
                finally:
                    _current_caller = None

            def invoke_stream(self, caller: _wit.Caller, method: str, args: str) -> None:
                global _current_caller
                from . import streams

                if not _ready:
                    _setup()
                _current_caller = caller.id
                try:
                    hub.dispatch_stream(Context(caller), method, args, streams.send_item)
                except HubError as error:
                    raise error.to_wit() from None
                finally:
                    _current_caller = None

        return Handler


def _guard(what: str, fn, *args):
    """Runs a lifecycle function, turning what it raises into `Err(hub-error)`."""
    try:
        return fn(*args)
    except HubError as error:
        raise error.to_wit() from None
    except Exception as error:
        _log_exception(f"{what} raised", error)
        raise from_exception(error).to_wit() from None


def _log_exception(what: str, error: BaseException) -> None:
    try:
        log.error(f"{what}: {type(error).__name__}: {error}", traceback=format_traceback(error))
    except Exception:  # the log is best effort
        pass


def format_traceback(error: BaseException, limit: int = 30) -> str:
    """The traceback of `error`, innermost `limit` frames, without source
    lines. The `traceback` module reads source files for those, and a hub
    has no filesystem: with `--stub-wasi` that read would trap."""
    frames = [
        f'  File "{frame.f_code.co_filename}", line {lineno}, in {frame.f_code.co_name}'
        for frame, lineno in traceback.walk_tb(error.__traceback__)
    ]
    if len(frames) > limit:
        frames = ["  ..."] + frames[-limit:]
    return "\n".join(["Traceback (most recent call last):", *frames, f"{type(error).__name__}: {error}"])
