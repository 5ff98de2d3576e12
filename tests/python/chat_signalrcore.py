"""The chat contract (chatcontract.py) with signalrcore, default settings:
`HubConnectionBuilder().with_url(url).build()`, plus
`.with_hub_protocol(MessagePackHubProtocol())` for `--protocol messagepack`.

signalrcore calls back on its own socket thread; the contract waits for
those callbacks with deadlines."""

import queue
import threading
import uuid
from urllib.parse import quote

from signalrcore.hub_connection_builder import HubConnectionBuilder
from signalrcore.protocol.json_hub_protocol import JsonHubProtocol
from signalrcore.protocol.messagepack_protocol import MessagePackHubProtocol

import chatcontract
from chatcontract import Failure, InvocationError


class Client:
    def __init__(self, args):
        self.args = args
        self.messages = queue.Queue()
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.completions = {}  # invocation id -> queue of its Completion
        self.hub = None

    def connect(self):
        builder = HubConnectionBuilder().with_url(f"{self.args.url}?name={quote(self.args.name)}")
        if self.args.protocol == "messagepack":
            builder = builder.with_hub_protocol(MessagePackHubProtocol())
        hub = builder.build()
        hub.on_open(self.opened.set)
        hub.on_close(self.closed.set)
        hub.on_error(self._completed)  # a Completion with an error
        hub.on("Message", lambda arguments: self.messages.put(arguments[0]))
        self.hub = hub
        hub.start()
        if not self._wait(self.opened):
            raise Failure(f"the connection did not open within {self.args.timeout} s")

    def _wait(self, event):
        """Waits for `event`: False on the deadline; fails if the connection closes first."""
        for _ in range(int(self.args.timeout * 20)):
            if event.wait(0.05):
                return True
            if self.closed.is_set():
                raise Failure("the connection closed")
        return False

    def _completed(self, message):
        box = self.completions.get(getattr(message, "invocation_id", None))
        if box is not None:
            box.put(message)

    def invoke(self, method, arguments):
        invocation_id = str(uuid.uuid4())
        box = self.completions[invocation_id] = queue.Queue()
        self.hub.send(method, arguments, on_invocation=self._completed, invocation_id=invocation_id)
        try:
            message = box.get(timeout=self.args.timeout)
        except queue.Empty:
            state = "closed" if self.closed.is_set() else "open"
            raise Failure(f"{method}: no Completion within {self.args.timeout} s (connection {state})") from None
        if message.error:
            raise InvocationError(message.error)
        return message.result

    def close(self):
        # signalrcore's stop() closes the socket, then joins its reader, which
        # stays blocked in recv() until the server sends something (a ping,
        # up to 15 s later). Bounded here: when the script exits, the socket
        # is closed anyway.
        if self.hub is not None:
            stopper = threading.Thread(target=self.hub.stop, daemon=True)
            stopper.start()
            stopper.join(1.0)


def main():
    args = chatcontract.parse_args("signalrcore")
    chatcontract.WIRE.wrap(JsonHubProtocol, "parse_messages")
    chatcontract.WIRE.wrap(MessagePackHubProtocol, "parse_messages")
    chatcontract.run(Client(args), args)


if __name__ == "__main__":
    main()
