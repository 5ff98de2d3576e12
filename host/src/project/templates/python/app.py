"""The {{name}} hub: `Echo(text)`, and rooms: `Join(room)` then
`Send(room, text)`, which every member receives as `Message(from, text)`."""

from wasmhub import Context, Hub, clients, groups

hub = Hub()


@hub.method("Echo")
def echo(ctx: Context, text: str) -> str:
    return text


@hub.method("Join")
def join(ctx: Context, room: str) -> None:
    groups.add(ctx.connection_id, room)


@hub.method("Send")
def send(ctx: Context, room: str, text: str) -> None:
    clients.with_group(room).send("Message", ctx.user or ctx.connection_id, text)


Handler = hub.handler()
