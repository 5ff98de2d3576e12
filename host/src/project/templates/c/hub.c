/*
 * The {{name}} hub: `Echo(text)`, and rooms: `Join(room)` then
 * `Send(room, text)`, which every member receives as `Message(from, text)`.
 */

#include "wasmhub.h"

static wh_error echo(wh_ctx *ctx, wh_json **args, wh_json **result) {
    *result = args[0];
    return WH_OK;
}

static wh_error join(wh_ctx *ctx, wh_json **args, wh_json **result) {
    return wh_groups_add(ctx->connection_id, args[0]->str);
}

static wh_error send_to_room(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_str from = wh_is_none(ctx->user) ? ctx->connection_id : ctx->user;
    return wh_send(wh_to_group(args[0]->str), "Message", wh_list(2, wh_string(from), args[1]));
}

static const wh_method METHODS[] = {
    {"Echo", echo, {WH_STRING}},
    {"Join", join, {WH_STRING}},
    {"Send", send_to_room, {WH_STRING, WH_STRING}},
    {0},
};

const wh_hub wh_hub_def = {.methods = METHODS};
