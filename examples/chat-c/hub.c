/*
 * The chat hub in C: the same contract as examples/chat/src/lib.rs (the
 * browser page, the CLI and the tests work with either):
 * - connect as `/hubs/chat-c?name=<you>` (or with a JWT whose `sub` is you);
 * - `Join(room)`, `Leave(room)`, `Send(room, text)`, `Whisper(user, text)`;
 * - `Who(room)`, `Online()`: sorted user names;
 * - `Ask(user, question)`, `Poll(room, question)`: ask clients for answers
 *   through their `Question(question)` handler;
 * - `connection.stream("Countdown", 3)`: 3, 2, 1.
 *
 * Clients receive `Message({ room, from, text })`, `room` being `null` for
 * a whisper. A room keeps its last 50 messages (in the hub's key-value
 * store, when its manifest grants one): whoever joins a room with some gets
 * them first, oldest first, as `History(room, [message, ...])`.
 *
 * Every method reads only the caller's id and user (`ctx->connection_id`,
 * `ctx->user`), which come with the call: none makes the SDK fetch the
 * caller's whole record from the host. Only on_connected reads the query,
 * and it gets the whole record anyway.
 *
 * Built by `wasmhub build DIR` (DIR holding this file, `sdk/` with
 * sdks/c and `wit/`) into DIR/hubs/chat-c.wasm (see docs/hubs-c.md).
 */
#include "wasmhub.h"

/** Every chat connection needs a user name: the JWT's, else `?name=`. */
static wh_error connected(wh_ctx *ctx, wh_str *user) {
    if (!wh_is_none(ctx->user)) return WH_OK;
    wh_str name = wh_query(ctx, "name");
    if (!wh_is_none(name)) name = wh_trim(name);
    if (wh_is_none(name) || name.len == 0) {
        return wh_err(WH_ERR_INVALID_ARGUMENT, "a user name is required: connect with ?name=<you>");
    }
    *user = name;
    return WH_OK;
}

/** The caller's user name (always set: on_connected insists on one). */
static wh_str me(const wh_ctx *ctx) {
    return wh_is_none(ctx->user) ? WH_S("") : ctx->user;
}

/** What every client receives as the single argument of `Message`; `room`
 * none (JSON null) for a whisper. */
static wh_json *message(wh_str room, wh_str from, wh_str text) {
    wh_json *m = wh_object();
    wh_object_set(m, "room", wh_string(room));
    wh_object_set(m, "from", wh_string(from));
    wh_object_set(m, "text", wh_string(text));
    return m;
}

/* Messages a room keeps for whoever joins next, their most bytes (well
 * under what one client may have waiting, so the History call fits), and
 * how long a quiet room keeps them. */
#define HISTORY 50
#define HISTORY_BYTES (256u << 10)
#define HISTORY_TTL_MS (7ull * 24 * 3600 * 1000)

static wh_str history_key(wh_str room) { return wh_str_cat(WH_S("history:"), room); }

/** The room's kept messages, oldest first, in `*kept`; false when they
 * cannot be read (no `kv` grant, the store away, not a list), so nobody
 * overwrites them then. */
static bool history(wh_str room, wh_json **kept) {
    wh_json *value;
    wh_error e = wh_kv_get_json(history_key(room), &value);
    if (e.kind == WH_ERR_UNAUTHORIZED) return false;
    if (e.kind == WH_ERR_NONE && value != NULL && value->type != WH_JSON_ARRAY) {
        e = wh_err(WH_ERR_INTERNAL, "the value of 'history:%s' is not the JSON expected: not a list", room.ptr);
    }
    if (e.kind != WH_ERR_NONE) {
        wh_log_warn("the history of '%s' could not be read: %s", room.ptr, wh_error_text(e).ptr);
        return false;
    }
    *kept = value != NULL ? value : wh_array();
    return true;
}

/** Adds a message to the room's history, keeping the last HISTORY. Two
 * nodes adding at once may lose one of the two from the history (never
 * from the room: it was sent already). */
static void remember(wh_str room, wh_json *sent) {
    wh_json *kept;
    if (!history(room, &kept)) return;
    wh_array_push(kept, sent);
    size_t skip = kept->count > HISTORY ? kept->count - HISTORY : 0;
    wh_str text;
    for (;;) {
        text = wh_json_encode(wh_array_slice(kept, skip));
        if (text.len <= HISTORY_BYTES || skip + 1 >= kept->count) break;
        skip++;
    }
    wh_error e = wh_kv_set(history_key(room), text, HISTORY_TTL_MS);
    if (e.kind != WH_ERR_NONE) {
        wh_log_warn("the history of '%s' was not kept: %s", room.ptr, wh_error_text(e).ptr);
    }
}

static wh_error join(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_str room = args[0]->str;
    WH_TRY(wh_groups_add(ctx->connection_id, room));
    /* History is a courtesy: the join stands whatever becomes of it. */
    wh_json *kept;
    if (history(room, &kept) && kept->count > 0) {
        wh_error e = wh_send(wh_to_caller(), "History", wh_list(2, wh_string(room), kept));
        if (e.kind != WH_ERR_NONE) {
            wh_log_warn("the history of '%s' was not sent: %s", room.ptr, wh_error_text(e).ptr);
        }
    }
    return WH_OK;
}

static wh_error leave(wh_ctx *ctx, wh_json **args, wh_json **result) {
    return wh_groups_remove(ctx->connection_id, args[0]->str);
}

static wh_error send_to_room(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_str room = args[0]->str;
    wh_json *sent = message(room, me(ctx), args[1]->str);
    WH_TRY(wh_send(wh_to_group(room), "Message", wh_list(1, sent)));
    remember(room, sent);
    return WH_OK;
}

static wh_error whisper(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_str user = args[0]->str;
    bool online;
    WH_TRY(wh_presence_is_user_online(user, &online));
    if (!online) return wh_err_str(WH_ERR_NOT_FOUND, wh_concat(3, WH_S("user '"), user, WH_S("' is not online")));
    return wh_send(wh_to_user(user), "Message", wh_list(1, message(WH_NONE, me(ctx), args[1]->str)));
}

/** A sorted array of strings as JSON. */
static wh_json *string_array(const wh_str *items, size_t n) {
    wh_json *array = wh_array();
    for (size_t i = 0; i < n; i++) wh_array_push(array, wh_string(items[i]));
    return array;
}

static wh_error who(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_connection *conns;
    size_t n;
    WH_TRY(wh_presence_in_group(args[0]->str, &conns, &n));
    wh_str *users = wh_alloc((n ? n : 1) * sizeof *users);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!wh_is_none(conns[i].user)) users[count++] = conns[i].user;
    }
    count = wh_str_sort_unique(users, count);
    *result = string_array(users, count);
    return WH_OK;
}

static wh_error online(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_user_presence *present;
    size_t n;
    WH_TRY(wh_presence_online_users(&present, &n));
    wh_str *users = wh_alloc((n ? n : 1) * sizeof *users);
    for (size_t i = 0; i < n; i++) users[i] = present[i].user;
    wh_str_sort(users, n);
    *result = string_array(users, n);
    return WH_OK;
}

/** `nobody answered: user '<user>' <reasons>`. */
static wh_error nobody(wh_str user, wh_str reasons) {
    return wh_err_str(WH_ERR_NO_CLIENT_RESPONDED, wh_concat(4, WH_S("nobody answered: user '"), user, WH_S("' "), reasons));
}

static wh_error ask(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_str user = args[0]->str;
    bool online;
    WH_TRY(wh_presence_is_user_online(user, &online));
    if (!online) return nobody(user, WH_S("is not online"));
    wh_client_result answer;
    wh_error e = wh_invoke_one(wh_to_user(user), "Question", wh_list(1, args[1]), &answer);
    if (e.kind == WH_ERR_NO_CLIENT_RESPONDED) return nobody(user, wh_str_cat(WH_S("gave no answer: "), e.message));
    WH_TRY(e);
    if (!answer.ok) return nobody(user, wh_str_cat(WH_S("gave no answer: "), answer.error));
    *result = answer.value;
    return WH_OK;
}

/** One entry per connection of the room: `answer` when it answered, else
 * `error`. */
static wh_error poll_room(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_client_result *answers;
    size_t n;
    WH_TRY(wh_invoke_all(wh_to_group(args[0]->str), "Question", wh_list(1, args[1]), &answers, &n));
    wh_json *list = wh_array();
    for (size_t i = 0; i < n; i++) {
        wh_json *entry = wh_object();
        wh_object_set(entry, "connectionId", wh_string(answers[i].connection_id));
        wh_object_set(entry, "user", wh_string(answers[i].user));
        if (answers[i].ok) wh_object_set(entry, "answer", answers[i].value);
        else wh_object_set(entry, "error", wh_string(answers[i].error));
        wh_array_push(list, entry);
    }
    *result = list;
    return WH_OK;
}

/** `connection.stream("Countdown", 3)`: 3, 2, 1, one every 100 ms (the wait
 * is not the hub's running time); stops when the caller cancels. */
static wh_error countdown(wh_ctx *ctx, wh_json **args, wh_json **result) {
    uint64_t from = args[0]->u64;
    if (from > 100) return wh_err(WH_ERR_INVALID_ARGUMENT, "count down from 100 at most");
    for (uint64_t n = from; n > 0; n--) {
        if (!wh_sleep(100)) break;
        WH_TRY(wh_stream_send(wh_uint(n)));
    }
    return WH_OK;
}

static const wh_method METHODS[] = {
    {"Join", join, {WH_STRING}},
    {"Leave", leave, {WH_STRING}},
    {"Send", send_to_room, {WH_STRING, WH_STRING}},
    {"Whisper", whisper, {WH_STRING, WH_STRING}},
    {"Who", who, {WH_STRING}},
    {"Online", online},
    {"Ask", ask, {WH_STRING, WH_STRING}},
    {"Poll", poll_room, {WH_STRING, WH_STRING}},
    {"Countdown", countdown, {WH_U32}, WH_STREAM},
    {0},
};

const wh_hub wh_hub_def = {
    .methods = METHODS,
    .on_connected = connected,
};
