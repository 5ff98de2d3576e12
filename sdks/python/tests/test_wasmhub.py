"""Unit tests of the Python SDK, run on CPython outside any component.

The WIT bindings come from `componentize-py bindings` (their functions raise
NotImplementedError); the tests replace the imports they need with fakes.
`cargo xtask hubs DIR` runs them before it builds a Python hub; by hand:

    target/tools/python/bin/componentize-py -d wit -w hub bindings /tmp/bindings
    PYTHONPATH=/tmp/bindings:sdks/python python3 -m unittest discover -s sdks/python/tests
"""

import dataclasses
import math
import unittest
from typing import Any, List, Optional
from unittest import mock

from componentize_py_types import Err, Ok
from wit_world.imports import clients as wit_clients
from wit_world.imports import groups as wit_groups
from wit_world.imports import log as wit_log
from wit_world.imports import presence as wit_presence
from wit_world.imports import types as wit

import wasmhub
from wasmhub import (
    BINDING_ERROR,
    Accepted,
    Context,
    Hub,
    HubError,
    Internal,
    InvalidArgument,
    MethodNotFound,
    NoClientResponded,
    NotFound,
    clients,
    groups,
    log,
    presence,
)
from wasmhub.errors import from_wit, host_call


def connection(**fields) -> wit.Connection:
    values = dict(
        id="c1",
        user="alice",
        hub="chat",
        node="n1",
        transport="WebSockets",
        attributes=[("role", ["admin", "dev"])],
        groups=["lobby"],
        query=[("name", "alice"), ("Lang", "en")],
        headers=[("user-agent", "test")],
    )
    values.update(fields)
    return wit.Connection(**values)


def ctx(**fields) -> Context:
    return Context(connection(**fields))


def sample_hub() -> Hub:
    hub = Hub()

    @hub.method("Echo")
    def echo(ctx: Context, text: str) -> str:
        return text

    @hub.method("Add")
    def add(ctx, a: int, b: int) -> int:
        return a + b

    @hub.method("Scale")
    def scale(ctx, x: float, by: Optional[int]) -> float:
        return x * (by if by is not None else 1)

    @hub.method("Nothing")
    def nothing(ctx) -> None:
        return None

    @hub.method
    def caller(ctx):
        return ctx.connection_id

    @hub.method("Fail")
    def fail(ctx):
        raise NotFound("gone")

    @hub.method("Boom")
    def boom(ctx):
        raise ValueError("boom")

    @hub.method("Anything")
    def anything(ctx, value: Any, items: List[str], untyped):
        return [value, items, untyped]

    @hub.method("NotJson")
    def not_json(ctx):
        return {"x": math.nan}

    @dataclasses.dataclass
    class Point:
        x: int
        y: Optional[int]

    @hub.method("Point")
    def point(ctx):
        return Point(1, None)

    return hub


class RouterTests(unittest.TestCase):
    def setUp(self):
        self.hub = sample_hub()
        self.ctx = ctx()
        self.logged = []
        patcher = mock.patch.object(wit_log, "log", lambda *a: self.logged.append(a))
        patcher.start()
        self.addCleanup(patcher.stop)

    def call(self, method, args):
        return self.hub.dispatch(self.ctx, method, args)

    def error(self, method, args) -> HubError:
        with self.assertRaises(HubError) as caught:
            self.call(method, args)
        return caught.exception

    def test_methods_match_case_insensitively(self):
        self.assertEqual(self.call("echo", '["hi"]'), '"hi"')
        self.assertEqual(self.call("ECHO", '["hi"]'), '"hi"')
        self.assertEqual(self.call("add", "[2, 3]"), "5")
        self.assertEqual(self.call("Caller", "[]"), '"c1"')

    def test_results_are_compact_json(self):
        self.assertEqual(self.call("Nothing", "[]"), "null")
        self.assertEqual(self.call("Echo", '["h\u00e9 \\"x\\""]'), '"h\u00e9 \\"x\\""')
        self.assertEqual(self.call("Point", "[]"), '{"x":1,"y":null}')
        self.assertEqual(self.call("Scale", "[1.5, null]"), "1.5")
        self.assertEqual(self.call("Scale", "[2, 3]"), "6.0")  # x: float, as Rust's f64

    def test_unknown_methods_are_reported_by_name(self):
        self.assertEqual(self.error("Nope", "[]"), MethodNotFound("Nope"))

    def test_arity_mismatch_uses_the_aspnet_text(self):
        self.assertEqual(
            self.error("Add", "[1]"),
            InvalidArgument("Invocation provides 1 argument(s) but target expects 2."),
        )
        self.assertEqual(
            self.error("Nothing", "[1, 2, 3]"),
            InvalidArgument("Invocation provides 3 argument(s) but target expects 0."),
        )

    def test_type_mismatch_reads_like_the_rust_sdk(self):
        cases = [
            ("Echo", "[5]", 'Argument 0: invalid type: integer `5`, expected a string'),
            ("Echo", "[null]", "Argument 0: invalid type: null, expected a string"),
            ("Add", '[1, "2"]', 'Argument 1: invalid type: string "2", expected i64'),
            ("Add", "[1, 2.5]", "Argument 1: invalid type: floating point `2.5`, expected i64"),
            ("Add", "[true, 2]", "Argument 0: invalid type: boolean `true`, expected i64"),
            ("Scale", "[[], null]", "Argument 0: invalid type: sequence, expected f64"),
            ("Scale", '[1, {"a": 1}]', "Argument 1: invalid type: map, expected i64"),
            ("Anything", '[1, "x", 2]', 'Argument 1: invalid type: string "x", expected a sequence'),
        ]
        for method, args, detail in cases:
            with self.subTest(method=method, args=args):
                error = self.error(method, args)
                self.assertIsInstance(error, InvalidArgument)
                self.assertEqual(error.message, f"{BINDING_ERROR} {detail}")

    def test_unchecked_annotations_take_any_json(self):
        self.assertEqual(self.call("Anything", '[{"a": [1]}, ["x"], true]'), '[{"a":[1]},["x"],true]')

    def test_a_non_array_is_a_binding_error(self):
        for args in ['{"a": 1}', "not json"]:
            error = self.error("Echo", args)
            self.assertIsInstance(error, InvalidArgument)
            self.assertTrue(error.message.startswith(BINDING_ERROR), error.message)

    def test_hub_errors_pass_through(self):
        self.assertEqual(self.error("Fail", "[]"), NotFound("gone"))

    def test_other_exceptions_are_internal_and_logged(self):
        self.assertEqual(self.error("Boom", "[]"), Internal("ValueError: boom"))
        level, message, fields = self.logged[-1]
        self.assertEqual(level, wit_log.Level.ERROR)
        self.assertIn("ValueError: boom", message)
        self.assertIn("Traceback", dict(fields)["traceback"])

    def test_results_that_are_not_json_are_internal(self):
        error = self.error("NotJson", "[]")
        self.assertIsInstance(error, Internal)
        self.assertIn("the result of 'NotJson' is not JSON", error.message)

    def test_duplicate_names_are_refused(self):
        hub = Hub()
        hub.method("Echo")(lambda ctx, t: t)
        with self.assertRaisesRegex(ValueError, "defined twice"):
            hub.method("echo")(lambda ctx, t: t)

    def test_methods_need_the_context_and_positional_parameters(self):
        hub = Hub()
        with self.assertRaisesRegex(TypeError, "Context"):
            hub.method("None")(lambda: None)
        with self.assertRaisesRegex(TypeError, "positional"):
            hub.method("Var")(lambda ctx, *args: None)

    def test_methods_are_listed(self):
        self.assertIn("Echo", self.hub.methods())
        self.assertIn("caller", self.hub.methods())


class HandlerTests(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.object(wit_log, "log", lambda *a: None)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_invoke_raises_the_wit_variant(self):
        handler = sample_hub().handler()()
        self.assertEqual(handler.invoke(connection(), "Echo", '["x"]'), '"x"')
        cases = [
            ("Fail", wit.HubError_NotFound("gone")),
            ("Nope", wit.HubError_MethodNotFound("Nope")),
            ("Boom", wit.HubError_Internal("ValueError: boom")),
        ]
        for method, expected in cases:
            with self.assertRaises(Err) as caught:
                handler.invoke(connection(), method, "[]")
            self.assertEqual(caught.exception.value, expected)

    def test_on_connected_accepts_names_and_refuses(self):
        hub = Hub()
        self.assertEqual(hub.handler()().on_connected(connection()), wit.Accepted(user=None))

        @hub.on_connected
        def connected(ctx):
            name = ctx.query("name")
            if name == "nobody":
                raise InvalidArgument("who?")
            if name == "bob":
                return "bob"
            if name == "carol":
                raise RuntimeError("bad")
            return Accepted(user=name) if name else None

        handler = hub.handler()()
        on = lambda name: handler.on_connected(connection(query=[("name", name)]))  # noqa: E731
        self.assertEqual(on("alice"), wit.Accepted(user="alice"))
        self.assertEqual(on("bob"), wit.Accepted(user="bob"))
        self.assertEqual(on(""), wit.Accepted(user=None))
        with self.assertRaises(Err) as caught:
            on("nobody")
        self.assertEqual(caught.exception.value, wit.HubError_InvalidArgument("who?"))
        with self.assertRaises(Err) as caught:
            on("carol")
        self.assertEqual(caught.exception.value, wit.HubError_Internal("RuntimeError: bad"))

    def test_init_and_on_disconnected(self):
        hub = Hub()
        seen = []
        hub.init(lambda: seen.append("init"))

        @hub.on_disconnected
        def gone(ctx, error):
            seen.append((ctx.connection_id, error))
            raise RuntimeError("ignored")

        handler = hub.handler()()
        handler.init()
        handler.on_disconnected(connection(), "reset")
        self.assertEqual(seen, ["init", ("c1", "reset")])

        hub.init(lambda: (_ for _ in ()).throw(InvalidArgument("no config")))
        with self.assertRaises(Err) as caught:
            hub.handler()().init()
        self.assertEqual(caught.exception.value, wit.HubError_InvalidArgument("no config"))


class ErrorTests(unittest.TestCase):
    def test_every_kind_round_trips_through_the_wit_variant(self):
        kinds = [
            wasmhub.MethodNotFound,
            wasmhub.InvalidArgument,
            wasmhub.Unauthorized,
            wasmhub.NotFound,
            wasmhub.Timeout,
            wasmhub.NoClientResponded,
            wasmhub.Unavailable,
            wasmhub.Internal,
        ]
        self.assertEqual(len({kind._wit for kind in kinds}), 8)
        for kind in kinds:
            error = kind("text")
            self.assertEqual(from_wit(error.to_wit().value), error)

    def test_client_facing_kinds(self):
        self.assertEqual(str(NotFound("user 'bob' is not online")), "NotFound: user 'bob' is not online")
        self.assertEqual(str(Internal("x")), "HubException: x")

    def test_host_call_raises_hub_errors(self):
        def failing():
            raise Err(wit.HubError_Unavailable("redis away"))

        with self.assertRaises(wasmhub.Unavailable) as caught:
            host_call(failing)
        self.assertEqual(caught.exception.message, "redis away")


class ContextTests(unittest.TestCase):
    def test_fields(self):
        c = ctx()
        self.assertEqual((c.connection_id, c.user, c.hub, c.node, c.transport), ("c1", "alice", "chat", "n1", "WebSockets"))
        self.assertEqual(c.groups, ["lobby"])

    def test_query_prefers_the_exact_name(self):
        c = ctx(query=[("Name", "upper"), ("name", "lower")])
        self.assertEqual(c.query("name"), "lower")
        self.assertEqual(c.query("Name"), "upper")
        self.assertEqual(c.query("NAME"), "upper")
        self.assertEqual(ctx().query("lang"), "en")
        self.assertIsNone(ctx().query("missing"))

    def test_headers_and_attributes_ignore_case(self):
        c = ctx()
        self.assertEqual(c.header("User-Agent"), "test")
        self.assertEqual(c.attributes("ROLE"), ["admin", "dev"])
        self.assertEqual(c.attribute("role"), "admin")
        self.assertEqual(c.attributes("none"), [])
        self.assertIsNone(c.attribute("none"))


class FakeSelection:
    """Records what a hub does with a selection."""

    def __init__(self, log, path, results=None):
        self.log, self.path, self.results = log, path, results or {}

    def _narrow(self, step):
        return FakeSelection(self.log, self.path + [step], self.results)

    def with_user(self, user):
        return self._narrow(("user", user))

    def with_group(self, group):
        return self._narrow(("group", group))

    def with_attribute(self, key, value):
        return self._narrow(("attribute", key, value))

    def except_(self, ids):
        return self._narrow(("except", ids))

    def send(self, method, args):
        self.log.append(("send", self.path, method, args))

    def invoke_one(self, method, args, timeout_ms):
        self.log.append(("invoke_one", self.path, method, args, timeout_ms))
        outcome = self.results.get("one")
        if isinstance(outcome, Err):
            raise outcome
        return outcome

    def invoke_all(self, method, args, timeout_ms):
        self.log.append(("invoke_all", self.path, method, args, timeout_ms))
        return self.results.get("all", [])

    def connection_ids(self):
        return ["a", "b"]


class ClientsTests(unittest.TestCase):
    def setUp(self):
        self.calls = []
        self.results = {}
        for name, step in [("with_user", "user"), ("with_group", "group")]:
            patcher = mock.patch.object(
                wit_clients, name, lambda v, step=step: FakeSelection(self.calls, [(step, v)], self.results)
            )
            patcher.start()
            self.addCleanup(patcher.stop)
        patcher = mock.patch.object(wit_clients, "all", lambda: FakeSelection(self.calls, [("all",)], self.results))
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_send_encodes_the_arguments_as_a_json_array(self):
        clients.with_group("lobby").except_("c1").send("Message", {"room": "lobby", "from": "a", "text": "é"})
        clients.all().with_attribute("role").send("Ping")
        self.assertEqual(
            self.calls,
            [
                ("send", [("group", "lobby"), ("except", ["c1"])], "Message", '[{"room":"lobby","from":"a","text":"é"}]'),
                ("send", [("all",), ("attribute", "role", None)], "Ping", "[]"),
            ],
        )

    def test_invoke_one_decodes_the_answer(self):
        self.results["one"] = wit.ClientResult("c2", "bob", Ok('{"n":42}'))
        result = clients.with_user("bob").invoke_one("Question", "q?", timeout=1.5)
        self.assertEqual(result, clients.ClientResult("c2", "bob", True, {"n": 42}))
        self.assertEqual(self.calls[-1], ("invoke_one", [("user", "bob")], "Question", '["q?"]', 1500))

    def test_invoke_one_raises_no_client_responded(self):
        self.results["one"] = Err(wit.HubError_NoClientResponded("c2: busy"))
        with self.assertRaises(NoClientResponded) as caught:
            clients.with_user("bob").invoke_one("Question", "q?")
        self.assertEqual(caught.exception.message, "c2: busy")
        self.assertIsNone(self.calls[-1][4])

    def test_invoke_all_returns_answers_and_errors(self):
        self.results["all"] = [
            wit.ClientResult("c1", "alice", Ok('"yes"')),
            wit.ClientResult("c2", None, Err("disconnected")),
        ]
        results = clients.with_group("room").invoke_all("Question", "lunch?")
        self.assertEqual(
            results,
            [
                clients.ClientResult("c1", "alice", True, "yes"),
                clients.ClientResult("c2", None, False, error="disconnected"),
            ],
        )

    def test_timeouts_are_clamped_to_u32_milliseconds(self):
        self.results["one"] = wit.ClientResult("c2", "bob", Ok("null"))
        clients.with_user("bob").invoke_one("Q", timeout=10**12)
        self.assertEqual(self.calls[-1][4], 2**32 - 1)
        self.assertEqual(clients.all().connection_ids(), ["a", "b"])


class GroupsPresenceLogTests(unittest.TestCase):
    def test_groups_and_presence_map_errors(self):
        def add(connection_id, group):
            raise Err(wit.HubError_NotFound(f"no connection {connection_id}"))

        with mock.patch.object(wit_groups, "add", add):
            with self.assertRaises(NotFound):
                groups.add("zz", "lobby")
        online = [wit.UserPresence("bob", ["c2"], ["n1"])]
        with mock.patch.object(wit_presence, "online_users", lambda: online), mock.patch.object(
            wit_presence, "is_user_online", lambda user: user == "bob"
        ):
            self.assertEqual([p.user for p in presence.online_users()], ["bob"])
            self.assertTrue(presence.is_user_online("bob"))
            self.assertFalse(presence.is_user_online("eve"))

    def test_log_fields_and_streams(self):
        lines = []
        with mock.patch.object(wit_log, "log", lambda *a: lines.append(a)):
            log.info("joined", room="lobby", count=2)
            stream = log._LogStream(log.Level.WARN)
            stream.write("one\ntw")
            stream.write("o\n")
            stream.write("tail")
            stream.flush()
        self.assertEqual(
            lines,
            [
                (log.Level.INFO, "joined", [("room", "lobby"), ("count", "2")]),
                (log.Level.WARN, "one", []),
                (log.Level.WARN, "two", []),
                (log.Level.WARN, "tail", []),
            ],
        )


if __name__ == "__main__":
    unittest.main()
