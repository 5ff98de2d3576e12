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
from wit_world.imports import caller as wit_caller
from wit_world.imports import clients as wit_clients
from wit_world.imports import groups as wit_groups
from wit_world.imports import http as wit_http
from wit_world.imports import kv as wit_kv
from wit_world.imports import log as wit_log
from wit_world.imports import presence as wit_presence
from wit_world.imports import system as wit_system
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
    Unauthorized,
    clients,
    groups,
    http,
    kv,
    log,
    presence,
    system,
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

    @hub.method("Me")
    def me(ctx):
        return [ctx.connection_id, ctx.user, clients.caller().selector.connection]

    @hub.method("Lang")
    def lang(ctx):
        return [ctx.query("lang"), ctx.transport, ctx.groups]

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


class StreamTests(unittest.TestCase):
    def setUp(self):
        self.hub = Hub()

        @self.hub.stream("Count")
        def count(ctx, to: int):
            for n in range(1, to + 1):
                yield n

        @self.hub.method("Echo")
        def echo(ctx, text: str) -> str:
            return text

    def test_items_go_out_until_the_caller_cancels(self):
        items = []
        self.hub.dispatch_stream(ctx(), "count", "[3]", lambda item: items.append(item) or True)
        self.assertEqual(items, ["1", "2", "3"])
        taken = []
        self.hub.dispatch_stream(ctx(), "Count", "[100]", lambda item: taken.append(item) or len(taken) < 2)
        self.assertEqual(taken, ["1", "2"])

    def test_the_wrong_kind_of_call_reads_like_aspnet(self):
        with self.assertRaises(wasmhub.WrongInvocation) as raised:
            self.hub.dispatch(ctx(), "Count", "[1]")
        self.assertEqual(
            raised.exception.message,
            "The client attempted to invoke the streaming 'Count' method with a non-streaming invocation.",
        )
        with self.assertRaises(wasmhub.WrongInvocation) as raised:
            self.hub.dispatch_stream(ctx(), "Echo", '["x"]', lambda item: True)
        self.assertEqual(
            raised.exception.message,
            "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
        )


class HandlerTests(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.object(wit_log, "log", lambda *a: None)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_invoke_raises_the_wit_variant(self):
        handler = sample_hub().handler()()
        self.assertEqual(handler.invoke(wit.Caller("c1", "alice"), "Echo", '["x"]'), '"x"')
        cases = [
            ("Fail", wit.HubError_NotFound("gone")),
            ("Nope", wit.HubError_MethodNotFound("Nope")),
            ("Boom", wit.HubError_Internal("ValueError: boom")),
        ]
        for method, expected in cases:
            with self.assertRaises(Err) as caught:
                handler.invoke(wit.Caller("c1", "alice"), method, "[]")
            self.assertEqual(caught.exception.value, expected)

    def test_invoke_gets_the_caller_and_fetches_details_once_when_asked(self):
        handler = sample_hub().handler()()
        fetched = []

        def details():
            fetched.append(True)
            return connection(id="c7", user="bob", query=[("Lang", "fr")], groups=["a", "b"])

        with mock.patch.object(wit_caller, "details", details):
            self.assertEqual(handler.invoke(wit.Caller("c7", "bob"), "Me", "[]"), '["c7","bob","c7"]')
            self.assertEqual(fetched, [], "id and user come with the call")
            self.assertEqual(handler.invoke(wit.Caller("c7", "bob"), "Lang", "[]"), '["fr","WebSockets",["a","b"]]')
            self.assertEqual(fetched, [True], "one host call for three lookups")
            handler.invoke(wit.Caller("c7", "bob"), "Lang", "[]")
            self.assertEqual(len(fetched), 2, "once per call, not cached across calls")
        # Between calls, `clients.caller()` selects nobody.
        self.assertEqual(clients.caller().selector.connection, "")

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
        with mock.patch.object(wit_caller, "details", lambda: self.fail("on_connected has the record")):
            on = lambda name: handler.on_connected(connection(query=[("name", name)]))  # noqa: E731
            self.assertEqual(on("alice"), wit.Accepted(user="alice"))
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

    def test_a_caller_fetches_the_rest_lazily(self):
        c = Context(wit.Caller("c2", None))
        with mock.patch.object(wit_caller, "details", lambda: connection(id="c2", user=None, hub="h")):
            self.assertEqual((c.connection_id, c.user), ("c2", None))
            self.assertEqual(c.hub, "h")
            self.assertEqual(c.connection.id, "c2")
        self.assertEqual(c.attribute("role"), "admin", "kept for the rest of the call")

    def test_a_caller_that_is_gone_has_only_its_id_and_user(self):
        with mock.patch.object(wit_caller, "details", lambda: None):
            c = Context(wit.Caller("c3", "eve"))
            self.assertIsNone(c.query("name"))
            self.assertEqual((c.groups, c.transport, c.connection.user), ([], "", "eve"))
        # Off the component (bindings unpatched), the same.
        self.assertEqual(Context(wit.Caller("c4", None)).groups, [])

    def test_headers_and_attributes_ignore_case(self):
        c = ctx()
        self.assertEqual(c.header("User-Agent"), "test")
        self.assertEqual(c.attributes("ROLE"), ["admin", "dev"])
        self.assertEqual(c.attribute("role"), "admin")
        self.assertEqual(c.attributes("none"), [])
        self.assertIsNone(c.attribute("none"))


def selector(connection=None, user=None, groups=(), attributes=(), excluding=()) -> wit.Selector:
    return wit.Selector(connection, user, list(groups), list(attributes), list(excluding))


class SelectionTests(unittest.TestCase):
    def test_starting_points(self):
        self.assertEqual(clients.all().selector, selector())
        self.assertEqual(clients.connection("c1").selector, selector(connection="c1"))
        self.assertEqual(clients.with_user("bob").selector, selector(user="bob"))
        self.assertEqual(clients.with_group("room").selector, selector(groups=["room"]))
        self.assertEqual(clients.with_attribute("role").selector, selector(attributes=[("role", None)]))
        self.assertEqual(
            clients.with_attribute("role", "adm*").selector, selector(attributes=[("role", "adm*")])
        )

    def test_narrowing_builds_one_selector_and_leaves_the_original(self):
        room = clients.with_group("room")
        narrowed = room.with_user("bob").with_attribute("role", "adm*").with_group("vip").except_(["c9"])
        self.assertEqual(
            narrowed.selector,
            selector(user="bob", groups=["room", "vip"], attributes=[("role", "adm*")], excluding=["c9"]),
        )
        self.assertEqual(room.selector, selector(groups=["room"]))
        self.assertEqual(room.except_("c1").except_(["c2", "c3"]).selector.excluding, ["c1", "c2", "c3"])
        self.assertEqual(narrowed, clients.with_group("room").with_user("bob").with_attribute("role", "adm*").with_group("vip").except_("c9"))
        self.assertIn("user='bob'", repr(narrowed))

    def test_two_users_select_nobody(self):
        self.assertEqual(clients.with_user("a").with_user("a").selector, selector(user="a"))
        nobody = clients.with_user("a").with_user("b").selector
        self.assertEqual((nobody.connection, nobody.user), ("", "a"))

    def test_caller_outside_a_call_selects_nobody(self):
        self.assertEqual(clients.caller().selector, selector(connection=""))

    def test_names_must_be_strings(self):
        with self.assertRaisesRegex(TypeError, "a user must be a str, not NoneType"):
            clients.with_user(None)
        with self.assertRaises(TypeError):
            clients.all().with_group(5)


class ClientsTests(unittest.TestCase):
    """What reaches the host: one call per send/invoke, with the selector."""

    def setUp(self):
        self.calls = []
        self.results = {}

        def fake(name):
            def call(to, *rest):
                self.assertIsInstance(to, wit.Selector)
                self.calls.append((name, to, *rest))
                outcome = self.results.get(name)
                if isinstance(outcome, Err):
                    raise outcome
                return outcome

            return call

        for name in ["send", "invoke_one", "invoke_all", "connection_ids"]:
            patcher = mock.patch.object(wit_clients, name, fake(name))
            patcher.start()
            self.addCleanup(patcher.stop)

    def test_building_a_selection_calls_nothing(self):
        clients.with_group("lobby").with_user("bob").with_attribute("x").except_("c1")
        self.assertEqual(self.calls, [])

    def test_send_encodes_the_arguments_as_a_json_array(self):
        clients.with_group("lobby").except_("c1").send("Message", {"room": "lobby", "from": "a", "text": "é"})
        clients.all().with_attribute("role").send("Ping")
        self.assertEqual(
            self.calls,
            [
                ("send", selector(groups=["lobby"], excluding=["c1"]), "Message", '[{"room":"lobby","from":"a","text":"é"}]'),
                ("send", selector(attributes=[("role", None)]), "Ping", "[]"),
            ],
        )

    def test_send_raises_hub_errors(self):
        self.results["send"] = Err(wit.HubError_Unavailable("redis away"))
        with self.assertRaises(wasmhub.Unavailable):
            clients.all().send("Ping")

    def test_invoke_one_decodes_the_answer(self):
        self.results["invoke_one"] = wit.ClientResult("c2", "bob", Ok('{"n":42}'))
        result = clients.with_user("bob").invoke_one("Question", "q?", timeout=1.5)
        self.assertEqual(result, clients.ClientResult("c2", "bob", True, {"n": 42}))
        self.assertEqual(self.calls[-1], ("invoke_one", selector(user="bob"), "Question", '["q?"]', 1500))

    def test_invoke_one_raises_no_client_responded(self):
        self.results["invoke_one"] = Err(wit.HubError_NoClientResponded("c2: busy"))
        with self.assertRaises(NoClientResponded) as caught:
            clients.with_user("bob").invoke_one("Question", "q?")
        self.assertEqual(caught.exception.message, "c2: busy")
        self.assertIsNone(self.calls[-1][4])

    def test_invoke_all_returns_answers_and_errors(self):
        self.results["invoke_all"] = [
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
        self.assertEqual(self.calls[-1], ("invoke_all", selector(groups=["room"]), "Question", '["lunch?"]', None))

    def test_timeouts_are_clamped_to_u32_milliseconds(self):
        self.results["invoke_one"] = wit.ClientResult("c2", "bob", Ok("null"))
        clients.with_user("bob").invoke_one("Q", timeout=10**12)
        self.assertEqual(self.calls[-1][4], 2**32 - 1)
        clients.with_user("bob").invoke_one("Q", timeout=-1)
        self.assertEqual(self.calls[-1][4], 0)

    def test_connection_ids(self):
        self.results["connection_ids"] = ["a", "b"]
        self.assertEqual(clients.all().connection_ids(), ["a", "b"])
        self.assertEqual(self.calls[-1], ("connection_ids", selector()))

    def test_caller_in_a_call_is_that_connection(self):
        hub = Hub()

        @hub.method("Poke")
        def poke(ctx):
            clients.caller().send("Poked")

        @hub.on_connected
        def connected(ctx):
            clients.caller().send("Welcome")

        handler = hub.handler()()
        with mock.patch.object(wit_log, "log", lambda *a: None):
            handler.on_connected(connection(id="c5"))
            handler.invoke(wit.Caller("c6", None), "Poke", "[]")
        self.assertEqual(
            self.calls,
            [("send", selector(connection="c5"), "Welcome", "[]"), ("send", selector(connection="c6"), "Poked", "[]")],
        )


class SystemTests(unittest.TestCase):
    def test_off_the_component_cpython_answers(self):
        self.assertFalse(system._IN_COMPONENT)
        import time

        self.assertLess(abs(wasmhub.now() - time.time() * 1000), 5000)
        self.assertEqual(len(wasmhub.random_bytes(16)), 16)
        with self.assertRaises(ValueError):
            wasmhub.random_bytes(-1)

    def test_in_the_component_the_host_answers(self):
        asked = []

        def random_bytes(n):
            asked.append(n)
            return bytes(i % 256 for i in range(min(n, 65536)))

        with mock.patch.object(system, "_IN_COMPONENT", True), mock.patch.object(
            wit_system, "now", lambda: 1_700_000_000_123
        ), mock.patch.object(wit_system, "random_bytes", random_bytes):
            self.assertEqual(wasmhub.now(), 1_700_000_000_123)
            self.assertEqual(wasmhub.random_bytes(3), bytes([0, 1, 2]))
            self.assertIsInstance(wasmhub.random_bytes(3), bytes)
            self.assertEqual(wasmhub.random_bytes(0), b"")
            self.assertEqual(len(wasmhub.random_bytes(150_000)), 150_000)
            self.assertEqual(asked[-3:], [65536, 65536, 150_000 - 2 * 65536], "in chunks the host serves")

    def test_the_standard_library_patches(self):
        import types

        clock = [1_700_000_000_500]
        fake_time = types.SimpleNamespace()
        fake_os = types.SimpleNamespace()
        fake_random = types.SimpleNamespace(_urandom=None, seed=lambda a: seeded.append(a))
        seeded = []
        with mock.patch.object(system, "_IN_COMPONENT", True), mock.patch.object(
            wit_system, "now", lambda: clock[0]
        ), mock.patch.object(wit_system, "random_bytes", lambda n: b"\x01" * n):
            system.patch(fake_time, fake_os, {"random": fake_random})
            self.assertEqual(fake_time.time(), 1_700_000_000.5)
            self.assertEqual(fake_time.time_ns(), 1_700_000_000_500_000_000)
            self.assertEqual(fake_os.urandom(4), b"\x01" * 4)
            self.assertEqual(fake_random._urandom(2), b"\x01\x01")
            self.assertEqual(seeded, [int.from_bytes(b"\x01" * 32, "big")])
            start = fake_time.monotonic()
            clock[0] += 250
            self.assertAlmostEqual(fake_time.perf_counter() - start, 0.25, places=3)
            clock[0] -= 1000  # the wall clock went back: monotonic does not
            self.assertGreaterEqual(fake_time.monotonic_ns(), int(start * 1e9) + 250_000_000)

    def test_install_does_nothing_off_the_component(self):
        import time

        original = time.time
        system.install()
        self.assertIs(time.time, original)


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


class KvTests(unittest.TestCase):
    def setUp(self):
        self.store = {}
        self.calls = []

        def fake(name, body):
            def call(*args):
                self.calls.append((name, *args))
                return body(*args)

            patcher = mock.patch.object(wit_kv, name, call)
            patcher.start()
            self.addCleanup(patcher.stop)

        fake("get", lambda key: self.store.get(key))
        fake("set", lambda key, value, ttl: self.store.__setitem__(key, value))
        fake("delete", lambda key: self.store.pop(key, None) is not None)
        fake("increment", lambda key, by: self.store.setdefault(key, 0) + by)
        fake("keys", lambda prefix, limit: sorted(k for k in self.store if k.startswith(prefix))[:limit])

    def test_values_json_and_ttl_in_seconds(self):
        kv.set("room:a", "hi")
        self.assertEqual(kv.get("room:a"), "hi")
        self.assertIsNone(kv.get("absent"))
        kv.set_json("room:b", [{"from": "ann"}], ttl=1.5)
        self.assertIn(("set", "room:b", '[{"from":"ann"}]', 1500), self.calls)
        self.assertEqual(kv.get_json("room:b"), [{"from": "ann"}])
        self.assertEqual(kv.keys("room:"), ["room:a", "room:b"])
        self.assertTrue(kv.delete("room:a"))
        self.assertEqual(kv.increment("n", 3), 3)

    def test_host_errors_become_hub_errors(self):
        def refuse(key):
            raise Err(wit.HubError_Unauthorized("no grant"))

        with mock.patch.object(wit_kv, "get", refuse):
            with self.assertRaises(HubError) as caught:
                kv.get("a")
        self.assertIn("no grant", str(caught.exception))


class HttpTests(unittest.TestCase):
    def setUp(self):
        self.sent = []
        self.answer = wit_http.Response(status=200, headers=[("content-type", "application/json")], body=b'{"ok":true}')

        def send(request):
            self.sent.append(request)
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

        patcher = mock.patch.object(wit_http, "send", send)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_urlopen_is_shaped_like_urllib(self):
        with http.urlopen("http://a/x", timeout=1.5) as answer:
            self.assertEqual(answer.status, 200)
            self.assertEqual(answer.headers["Content-Type"], "application/json")
            self.assertEqual(answer.json(), {"ok": True})
        sent = self.sent[-1]
        self.assertEqual((sent.method, sent.url, sent.body, sent.timeout_ms), ("GET", "http://a/x", b"", 1500))
        http.urlopen(http.Request("http://a/y", data=b"hi", headers={"X-A": "1"}))
        sent = self.sent[-1]
        self.assertEqual((sent.method, sent.body, sent.headers), ("POST", b"hi", [("X-A", "1")]))

    def test_statuses_of_400_and_more_raise_from_urlopen_only(self):
        self.answer = wit_http.Response(status=404, headers=[], body=b"gone")
        with self.assertRaises(http.HTTPError) as caught:
            http.urlopen("http://a/")
        self.assertEqual((caught.exception.code, caught.exception.read()), (404, b"gone"))
        self.assertEqual(http.get("http://a/").status, 404)

    def test_json_bodies_and_host_errors(self):
        http.post("http://a/", json={"n": 1})
        sent = self.sent[-1]
        self.assertEqual(sent.body, b'{"n":1}')
        self.assertIn(("content-type", "application/json"), sent.headers)
        self.answer = Err(wit.HubError_Unauthorized("grant it"))
        with self.assertRaises(Unauthorized):
            http.get("http://b/")


if __name__ == "__main__":
    unittest.main()
