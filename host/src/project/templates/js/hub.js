// The {{name}} hub: `Echo(text)`, and rooms: `Join(room)` then
// `Send(room, text)`, which every member receives as `Message(from, text)`.

import { Router, clients, groups, exportHub } from "./wasmhub.js";

const router = new Router()
  .method("Echo", ["string"], (_ctx, text) => text)
  .method("Join", ["string"], (ctx, room) => {
    groups.add(ctx.connectionId, room);
  })
  .method("Send", ["string", "string"], (ctx, room, text) => {
    clients.withGroup(room).send("Message", ctx.user ?? ctx.connectionId, text);
  });

export const handler = exportHub({ router });
