"""The chat contract that tests/python/chat_<client>.py run, with any client.

A script gives `run()` an adapter for its client: `connect()`, `invoke(method,
args) -> result` (raising `InvocationError` with the hub's error text),
`close()`, and `messages`, a queue.Queue the client's `Message` handler fills.
Every observed event is printed as one JSON line on stdout; any failure
prints a clear message on stderr and exits with status 1.

The steps (the chat hub is examples/chat/src/lib.rs):
  connected, joined (Join room), message (its own Send to the room comes
  back), result Who (the room's users), result Whisper (to --peer),
  error (Whisper to a user who is not online), waiting (for the peer), then
  a room message and a whisper from the peer, done (with `wire`: the message
  types that reached the client and how many carried streamIds).
"""

import argparse
import json
import logging
import queue
import sys

import msgpack


class InvocationError(Exception):
    """A Completion with an error: the hub's error text."""


class Failure(Exception):
    """The contract did not hold."""


def parse_args(client):
    parser = argparse.ArgumentParser(description=f"the chat contract with {client}")
    parser.add_argument("--url", required=True, help="the chat hub, http://HOST:PORT/hubs/chat")
    parser.add_argument("--name", required=True, help="the user name to connect as")
    parser.add_argument("--room", required=True)
    parser.add_argument("--peer", required=True, help="another user in the room, who sends to us")
    parser.add_argument("--protocol", choices=["json", "messagepack"], default="json")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each step, seconds")
    args = parser.parse_args()
    args.client = client
    return args


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class ErrorLog(logging.Handler):
    """Keeps the clients' error log lines, to name them when a step fails."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines = []

    def emit(self, record):
        line = (record.getMessage().strip().splitlines() or [""])[-1]
        if line not in ("", "NoneType: None") and line not in self.lines:
            self.lines.append(line)


ERRORS = ErrorLog()
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
logging.getLogger().addHandler(ERRORS)


class Wire:
    """What reached the client: every message type, and how many messages
    carried streamIds (a JSON `streamIds` key, a non-empty MessagePack array)."""

    def __init__(self):
        self.types = []
        self.stream_ids = 0

    def _see(self, kind, has_stream_ids):
        if kind not in self.types:
            self.types.append(kind)
        self.stream_ids += bool(has_stream_ids)

    def record(self, raw):
        """Records one frame: JSON records, or length-prefixed MessagePack."""
        if isinstance(raw, str):
            for text in raw.split("\x1e"):
                if text.strip():
                    message = json.loads(text)
                    self._see(message.get("type"), "streamIds" in message)
            return
        data, offset = bytes(raw), 0
        while offset < len(data):
            length, shift = 0, 0
            while True:
                byte = data[offset]
                offset += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            values = msgpack.unpackb(data[offset : offset + length])
            offset += length
            # [1, headers, invocationId, target, arguments, streamIds]: the
            # array is always there (ASP.NET writes it empty); ids in it are not.
            self._see(values[0], values[0] in (1, 4) and len(values) > 5 and len(values[5]) > 0)

    def wrap(self, cls, name):
        """Records each frame `cls.name(self, raw)` is given, then decodes it as before."""
        original = getattr(cls, name)
        wire = self

        def recording(protocol, raw, *rest, **kw):
            wire.record(raw)
            return original(protocol, raw, *rest, **kw)

        setattr(cls, name, recording)

    def summary(self):
        return {"types": self.types, "streamIds": self.stream_ids}


WIRE = Wire()


def _next_message(client, args, wanted, what):
    """Prints every message received until one matches `wanted`; returns it."""
    while True:
        try:
            message = client.messages.get(timeout=args.timeout)
        except queue.Empty:
            raise Failure(f"no {what} within {args.timeout} s") from None
        emit("message", message=message)
        if wanted(message):
            return message


def _contract(client, args):
    me, room, peer = args.name, args.room, args.peer
    client.connect()
    emit("connected")
    client.invoke("Join", [room])
    emit("joined", room=room)

    client.invoke("Send", [room, f"hello from {me}"])
    _next_message(client, args, lambda m: m.get("from") == me and m.get("room") == room, "own room message")

    emit("result", method="Who", result=client.invoke("Who", [room]))
    emit("result", method="Whisper", result=client.invoke("Whisper", [peer, f"psst from {me}"]))
    try:
        result = client.invoke("Whisper", ["nobody-online", "anyone?"])
    except InvocationError as error:
        emit("error", method="Whisper", error=str(error))
    else:
        raise Failure(f"Whisper to a user who is not online succeeded: {result!r}")

    emit("waiting", peer=peer)
    _next_message(client, args, lambda m: m.get("from") == peer and m.get("room") == room, f"room message from {peer}")
    _next_message(client, args, lambda m: m.get("from") == peer and m.get("room") is None, f"whisper from {peer}")


def run(client, args):
    """Runs the contract with `client`; exits 0 when it held, else 1."""
    try:
        _contract(client, args)
    except Exception as error:  # noqa: BLE001 - every failure ends the script with its reason
        logged = "; ".join(ERRORS.lines[-5:])
        kind = "" if isinstance(error, (Failure, InvocationError)) else f"{type(error).__name__}: "
        print(
            f"{args.client} ({args.protocol}) failed: {kind}{error}" + (f" (client log: {logged})" if logged else ""),
            file=sys.stderr,
            flush=True,
        )
        try:
            client.close()
        finally:
            sys.exit(1)
    client.close()
    emit("done", wire=WIRE.summary())
