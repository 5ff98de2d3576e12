"""The chat contract (chatcontract.py) with pysignalr, default settings:
`SignalRClient(url)`, or with `protocol=MessagepackProtocol()` for
`--protocol messagepack`.

pysignalr is asyncio-based: its loop runs on a thread of its own, and the
contract calls into it with deadlines."""

import asyncio
import concurrent.futures
import queue
import threading
from urllib.parse import quote

from pysignalr.client import SignalRClient
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

import chatcontract
from chatcontract import Failure, InvocationError


class Client:
    def __init__(self, args):
        self.args = args
        self.messages = queue.Queue()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.task = None
        self.opened = None

    def _call(self, coro, what):
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(self.args.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Failure(f"{what}: no answer within {self.args.timeout} s") from None

    def connect(self):
        self._call(self._start(), "connect")

    async def _start(self):
        url = f"{self.args.url}?name={quote(self.args.name)}"
        if self.args.protocol == "messagepack":
            client = SignalRClient(url, protocol=MessagepackProtocol())
        else:
            client = SignalRClient(url)
        self.opened = asyncio.Event()

        async def on_open():
            self.opened.set()

        async def on_message(arguments):
            self.messages.put(arguments[0])

        async def on_error(_completion):
            pass  # the invocation's own callback sees the error too

        client.on_open(on_open)
        client.on("Message", on_message)
        client.on_error(on_error)
        self.client = client
        self.task = asyncio.create_task(client.run())
        opened = asyncio.create_task(self.opened.wait())
        await asyncio.wait([self.task, opened], return_when=asyncio.FIRST_COMPLETED)
        if not self.opened.is_set():
            opened.cancel()
            raise Failure(f"the connection ended before it opened: {self.task.exception()!r}")

    def invoke(self, method, arguments):
        return self._call(self._invoke(method, arguments), method)

    async def _invoke(self, method, arguments):
        done = asyncio.get_running_loop().create_future()

        async def on_completion(message):
            if not done.done():
                done.set_result(message)

        await self.client.send(method, arguments, on_completion)
        await asyncio.wait([done, self.task], return_when=asyncio.FIRST_COMPLETED)
        if not done.done():
            raise Failure(f"the connection ended during {method}: {self.task.exception()!r}")
        message = done.result()
        if message.error:
            raise InvocationError(message.error)
        return message.result

    def close(self):
        if self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)


def main():
    args = chatcontract.parse_args("pysignalr")
    chatcontract.WIRE.wrap(JSONProtocol, "decode")
    chatcontract.WIRE.wrap(MessagepackProtocol, "decode")
    chatcontract.run(Client(args), args)


if __name__ == "__main__":
    main()
