/*
 * wasmhub for C: write a hub as plain functions, like the Rust SDK
 * (guest-sdk/). `wasmhub build` compiles it with clang for wasm32-wasi
 * against bindings generated from wit/hub.wit (`hub.h`).
 *
 *   #include "wasmhub.h"
 *
 *   static wh_error join(wh_ctx *ctx, wh_json **args, wh_json **result) {
 *       return wh_groups_add(ctx->connection_id, args[0]->str);
 *   }
 *
 *   static wh_error echo(wh_ctx *ctx, wh_json **args, wh_json **result) {
 *       *result = args[0];                      // any JSON value; NULL is null
 *       return WH_OK;
 *   }
 *
 *   static const wh_method METHODS[] = {
 *       { "Join", join, { WH_STRING } },        // name, handler, parameter types
 *       { "Echo", echo, { WH_ANY } },
 *       { 0 },                                  // the end of the table
 *   };
 *
 *   const wh_hub wh_hub_def = { .methods = METHODS };
 *
 * - The SDK implements the component's five exports. It finds the method
 *   (names match case-insensitively), parses the JSON argument array,
 *   checks its length and each argument's type against the table, calls
 *   the handler and encodes its result. Wrong counts and types get
 *   ASP.NET Core SignalR's texts, worded as the Rust SDK words them.
 * - A handler returns a `wh_error`: `WH_OK`, or an error kind and message
 *   (`wh_err(WH_ERR_NOT_FOUND, "user '%s' is not online", name)`) that the
 *   client reads as `NotFound: user 'zelda' is not online`. Every host
 *   call returns one too; `WH_TRY(call)` returns it from the handler when
 *   it is an error, as Rust's `?` does.
 * - Memory: everything the SDK hands out (parsed JSON, strings, built
 *   values, lists from the host) lives in a per-call arena that is freed
 *   when the call returns: nothing to free, nothing leaks. Use the arena
 *   yourself with `wh_alloc`. What must outlive a call needs malloc (but
 *   hubs keep no state in memory that must survive: an instance may be
 *   recycled after any call; state belongs in groups, users, attributes,
 *   presence and the key-value store).
 * - Strings are `wh_str`: UTF-8 bytes and their length. The SDK's are
 *   always NUL-terminated too, so `s.ptr` works as a C string (up to an
 *   embedded U+0000, which JSON allows).
 *
 * docs/hubs-c.md is the guide; wit/hub.wit documents every host call.
 */
#ifndef WASMHUB_H
#define WASMHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* printf: the host logs what a hub prints */

#include "hub.h" /* the bindings wasmhub build generates from wit/hub.wit */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WH_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------------
 * Strings and memory
 */

/** A UTF-8 string and its length in bytes. `ptr == NULL` means "none"
 * where a string is optional (a connection without a user, a query
 * parameter that is absent); see `wh_is_none`. */
typedef struct wh_str {
    const char *ptr;
    size_t len;
} wh_str;

/** A `wh_str` of a string literal: `WH_S("lobby")`. */
#define WH_S(literal) ((wh_str){(literal), sizeof(literal) - 1})
/** The absent string (an optional string that is not there). */
#define WH_NONE ((wh_str){NULL, 0})

/** A `wh_str` of a NUL-terminated C string (not copied); `NULL` is none. */
wh_str wh_cstr(const char *s);
/** Whether `s` is the absent string (as opposed to the empty one). */
static inline bool wh_is_none(wh_str s) { return s.ptr == NULL; }
/** Whether two strings have the same bytes (none equals only none). */
bool wh_str_eq(wh_str a, wh_str b);
/** Byte order, which is Unicode code point order (and Rust's `Ord`):
 * negative, zero or positive as `a` sorts before, with or after `b`. */
int wh_str_cmp(wh_str a, wh_str b);
/** Sorts `n` strings in place by `wh_str_cmp`. */
void wh_str_sort(wh_str *items, size_t n);
/** Sorts `n` strings and removes duplicates; returns how many remain. */
size_t wh_str_sort_unique(wh_str *items, size_t n);
/** `s` without leading and trailing Unicode White_Space: Rust's
 * `str::trim` (not C's isspace). */
wh_str wh_trim(wh_str s);
/** A copy of `s` in the call's arena (NUL-terminated). */
wh_str wh_str_copy(wh_str s);
/** `a` then `b`, in the call's arena: exact even with embedded NULs. */
wh_str wh_str_cat(wh_str a, wh_str b);
/** The `n` strings that follow (each a `wh_str`) one after the other, in
 * the call's arena: `wh_concat(3, WH_S("user '"), name, WH_S("' left"))`.
 * Exact even with embedded NULs. */
wh_str wh_concat(size_t n, ...);
/** printf into the call's arena. `%s` stops at an embedded NUL: use
 * `wh_str_cat` where strings may hold U+0000. */
wh_str wh_strf(const char *format, ...) WH_PRINTF(1, 2);

/** `size` bytes (aligned for any type) from the call's arena, freed when
 * the running export returns. Never NULL: out of memory traps. */
void *wh_alloc(size_t size);

/* ------------------------------------------------------------------------
 * Errors
 */

/** The kinds of the WIT `hub-error` (`WH_ERR_NONE` is success). The
 * client reads `<Kind>: <message>` (`HubException: <message>` for
 * `WH_ERR_INTERNAL`), or `Unknown hub method '<M>'` for the first. */
typedef enum wh_kind {
    WH_ERR_NONE = 0,
    /** No hub method has this name; the message is the name. */
    WH_ERR_METHOD_NOT_FOUND,
    /** The arguments do not fit the method, or a value is not acceptable. */
    WH_ERR_INVALID_ARGUMENT,
    /** The caller may not do this (also: a host call the manifest does
     * not grant, such as kv without `[grants] kv = true`). */
    WH_ERR_UNAUTHORIZED,
    /** A connection, user or group the call names does not exist. */
    WH_ERR_NOT_FOUND,
    /** Something took longer than allowed. */
    WH_ERR_TIMEOUT,
    /** invoke-one/invoke-all got no result; the message says why. */
    WH_ERR_NO_CLIENT_RESPONDED,
    /** The host (or another node of its cluster) cannot serve this now. */
    WH_ERR_UNAVAILABLE,
    /** Anything else: a bug or a failure the caller cannot fix. */
    WH_ERR_INTERNAL,
    /** A streaming method invoked without stream(), or a plain one with
     * it; the message is the client's whole error text. */
    WH_ERR_WRONG_INVOCATION,
} wh_kind;

/** What a handler or a host call returns: `kind` is `WH_ERR_NONE` on
 * success, else the error and its message. */
typedef struct wh_error {
    wh_kind kind;
    wh_str message;
} wh_error;

/** Success. */
#define WH_OK ((wh_error){WH_ERR_NONE, {NULL, 0}})

/** Evaluates `call` (a `wh_error`) and returns it from the enclosing
 * function when it is an error: Rust's `?`. */
#define WH_TRY(call)                          \
    do {                                      \
        wh_error wh_try_error_ = (call);      \
        if (wh_try_error_.kind != WH_ERR_NONE) \
            return wh_try_error_;             \
    } while (0)

/** An error of `kind` with a printf-formatted message. */
wh_error wh_err(wh_kind kind, const char *format, ...) WH_PRINTF(2, 3);
/** An error of `kind` carrying `message` (copied, NULs and all). */
wh_error wh_err_str(wh_kind kind, wh_str message);
/** The kind's name as the client reads it: `NotFound`, `Internal`, ... */
const char *wh_kind_name(wh_kind kind);
/** `<Kind>: <message>`, as Rust's `HubError` displays (for logs). */
wh_str wh_error_text(wh_error error);

/* ------------------------------------------------------------------------
 * JSON values
 */

/** The JSON types. */
typedef enum wh_type {
    WH_JSON_NULL = 0,
    WH_JSON_BOOL,
    WH_JSON_NUMBER,
    WH_JSON_STRING,
    WH_JSON_ARRAY,
    WH_JSON_OBJECT,
} wh_type;

/** How a number reads, as serde_json sorts it: an integer literal that
 * fits u64 (or i64 when negative), else a float (`1.0`, `1e3`, `-0`). */
typedef enum wh_number_kind {
    WH_NUM_UINT = 0,
    WH_NUM_INT,
    WH_NUM_FLOAT,
} wh_number_kind;

/** A JSON value (a DOM). Read the fields of its type:
 * - BOOL: `boolean`;
 * - NUMBER: `f64` always; `i64` when `has_i64` (an integer that fits
 *   i64), `u64` when `has_u64` (one that fits u64); `kind` as above;
 *   `str` is the literal as written;
 * - STRING: `str`, decoded (escapes, surrogate pairs) to UTF-8;
 * - ARRAY: `count` values `items[0..count)`;
 * - OBJECT: `count` members, `keys[i]` naming `items[i]`. Objects read
 *   from JSON are sorted by key and a repeated key keeps its last value,
 *   as serde_json's `Value` does (so results re-encode as Rust's would);
 *   objects you build keep the order you set their keys in.
 * Values read or built live in the call's arena. */
typedef struct wh_json {
    wh_type type;
    bool boolean;
    wh_number_kind kind;
    bool has_i64, has_u64;
    int64_t i64;
    uint64_t u64;
    double f64;
    wh_str str;
    size_t count;
    struct wh_json **items;
    wh_str *keys;
    size_t capacity; /* private: room in items/keys */
} wh_json;

/** How deep arrays and objects may nest in JSON the SDK reads (serde_json's
 * limit, 128): deeper input is an error, not a stack overflow. */
#define WH_JSON_MAX_DEPTH 128

/** Parses `text` (one JSON value, whitespace around it allowed). On
 * failure returns NULL and, if `error` is not NULL, sets it to why
 * (`expected value at line 1 column 3`). */
wh_json *wh_json_parse(wh_str text, wh_str *error);
/** `value` as compact JSON text, as serde_json writes it (strings escape
 * `"`, `\` and control characters only; floats in the shortest form that
 * reads back, `1.0`, `1e+300`; NaN and infinities as null). NULL is null. */
wh_str wh_json_encode(const wh_json *value);

/** How serde names a value in its errors (`integer `5``, `string "x"`,
 * `floating point `1.5``, `sequence`, `map`, `null`): for errors about
 * nested data worded as the Rust SDK's (`invalid type: %s, expected ...`). */
wh_str wh_json_describe(const wh_json *value);

/** New values (in the call's arena). */
wh_json *wh_null(void);
wh_json *wh_bool(bool value);
wh_json *wh_int(int64_t value);
wh_json *wh_uint(uint64_t value);
wh_json *wh_double(double value);
/** A string value; `s` is copied. A none string gives null. */
wh_json *wh_string(wh_str s);
/** A string value of a C string (copied); NULL gives null. */
wh_json *wh_cstring(const char *s);
/** An empty array. */
wh_json *wh_array(void);
/** An empty object. */
wh_json *wh_object(void);
/** An array of the `n` values that follow (`wh_json *`; NULL is null):
 * `wh_list(2, wh_cstring("lobby"), kept)`; the argument list of a send. */
wh_json *wh_list(size_t n, ...);

/** Appends `item` (NULL is null) to `array`; returns `array`. */
wh_json *wh_array_push(wh_json *array, wh_json *item);
/** Sets `key` of `object` to `value` (NULL is null), replacing the value
 * it had; returns `object`. */
wh_json *wh_object_set(wh_json *object, const char *key, wh_json *value);
/** The value of `key` in `object`, or NULL when it is absent (or `object`
 * is not an object). */
wh_json *wh_object_get(const wh_json *object, const char *key);
/** A new array of `array`'s items from `from` on (shares the items). */
wh_json *wh_array_slice(const wh_json *array, size_t from);

/* ------------------------------------------------------------------------
 * The hub: methods, connections, the export
 */

/** The types a parameter may declare, with serde's wording of what was
 * expected (so errors read as the Rust SDK's do). OR `WH_NULLABLE` in to
 * also accept null (Rust's `Option<T>`). */
enum wh_param {
    WH_END = 0, /* ends a parameter list (unused slots are WH_END) */
    WH_ANY,     /* any value (serde_json::Value) */
    WH_STRING,  /* "a string" (String): read ->str */
    WH_BOOL,    /* "a boolean": ->boolean */
    WH_F64,     /* "f64": any number, ->f64 */
    WH_I64,     /* "i64": an integer in i64, ->i64 */
    WH_I32,     /* "i32": ->i64 */
    WH_U64,     /* "u64": a non-negative integer in u64, ->u64 */
    WH_U32,     /* "u32": ->u64 (or ->i64) */
    WH_ARRAY,   /* "a sequence" (Vec<_>): ->count, ->items */
    WH_OBJECT,  /* "a map": ->count, ->keys, ->items */
    WH_NULLABLE = 0x100,
};

/** Most parameters a method takes (as the Rust SDK: tuples up to eight). */
#define WH_MAX_PARAMS 8

/** How a method is called. */
enum wh_method_kind {
    WH_PLAIN = 0, /* invoke / send: returns one result */
    WH_STREAM,    /* stream(): sends items with wh_stream_send */
};

struct wh_ctx;

/** A method's handler: `args` are the call's arguments (as many as the
 * method declares, each of its declared type; null where WH_NULLABLE
 * allowed it); set `*result` to the result (it starts NULL, which is
 * JSON null). A streaming method sends its items with `wh_stream_send`
 * and ignores `result`. */
typedef wh_error (*wh_handler)(struct wh_ctx *ctx, wh_json **args, wh_json **result);

/** One row of the method table. */
typedef struct wh_method {
    /** The name clients invoke (matched ASCII case-insensitively). */
    const char *name;
    wh_handler handler;
    /** The parameter types, `WH_END`-terminated (or all eight used). */
    int params[WH_MAX_PARAMS];
    /** `WH_PLAIN` (the default) or `WH_STREAM`. */
    int kind;
} wh_method;

/** A name and a value: a query parameter, a header, a log field. */
typedef struct wh_pair {
    wh_str name;
    wh_str value;
} wh_pair;

/** An attribute: its key (lowercase) and its values. */
typedef struct wh_attribute {
    wh_str key;
    const wh_str *values;
    size_t count;
} wh_attribute;

/** A connection: the caller's whole record, or one of a presence
 * snapshot (which has no hub, transport, query and headers: empty). */
typedef struct wh_connection {
    wh_str id;
    /** The user id (a JWT's `sub`, or what on_connected chose); none
     * when it has none. */
    wh_str user;
    wh_str hub, node, transport;
    /** The groups it is in, sorted. */
    const wh_str *groups;
    size_t group_count;
    const wh_attribute *attributes;
    size_t attribute_count;
    const wh_pair *query;
    size_t query_count;
    const wh_pair *headers;
    size_t header_count;
} wh_connection;

/** The call's context: who is calling. A method call (`invoke`) brings
 * the caller's id and user only; the rest of its record is fetched from
 * the host the first time it is asked for (wh_query, wh_details, ...),
 * once per call. A call from the server API has an empty id and no user. */
typedef struct wh_ctx {
    /** The caller's public connection id (empty: the server API). */
    wh_str connection_id;
    /** The caller's user id; none when it has none. */
    wh_str user;
    /* private */
    const wh_connection *details;
} wh_ctx;

/** The caller's whole record (never NULL: a caller that is gone reads
 * as a record with only its id and user). */
const wh_connection *wh_details(wh_ctx *ctx);
/** A query parameter of the connect request, or none. An exact name wins;
 * otherwise names compare ASCII case-insensitively, as in ASP.NET. */
wh_str wh_query(wh_ctx *ctx, const char *name);
/** A header of the connect request (case-insensitive name), or none. */
wh_str wh_header(wh_ctx *ctx, const char *name);
/** The first value of an attribute (case-insensitive key), or none. */
wh_str wh_attribute_value(wh_ctx *ctx, const char *key);

/** The hub: its methods and its connection hooks (each may be NULL). */
typedef struct wh_hub {
    /** The method table, ended by a row whose name is NULL (`{ 0 }`). */
    const wh_method *methods;
    /** Runs once on every new instance, and when the host loads the file:
     * an error refuses the file. */
    wh_error (*init)(void);
    /** A client completed its handshake: return an error to refuse it;
     * set `*user` (it starts none) to name the connection's user. */
    wh_error (*on_connected)(wh_ctx *ctx, wh_str *user);
    /** A client is gone; `error` says why, none after a clean close. */
    void (*on_disconnected)(wh_ctx *ctx, wh_str error);
} wh_hub;

/** The hub this component serves: every hub defines it once,
 * `const wh_hub wh_hub_def = { .methods = METHODS, ... };`. */
extern const wh_hub wh_hub_def;

/** ASP.NET Core SignalR's text for arguments of the wrong type. */
#define WH_BINDING_ERROR                                                       \
    "Error binding arguments. Make sure that the types of the provided values " \
    "match the types of the hub method being invoked."

/* ------------------------------------------------------------------------
 * Clients: selections, send, invoke
 */

/** A set of this hub's connections, narrowed step by step and resolved
 * by the host when used; every condition must hold. A plain value: each
 * step returns a new selection (lists copied in the arena), so one can
 * be kept and narrowed several ways. */
typedef struct wh_sel {
    wh_str connection;          /* only this connection (none: any) */
    wh_str user;                /* only this user's (none: any) */
    const wh_str *groups;       /* only those in every one of these */
    size_t group_count;
    const wh_pair *attributes;  /* only with these keys (value none: any) */
    size_t attribute_count;
    const wh_str *excluding;    /* not these connections */
    size_t excluding_count;
    int64_t timeout_ms;         /* invoke timeout; < 0: the host's */
} wh_sel;

/** Every connection of the hub. */
wh_sel wh_to_all(void);
/** The connection whose call is running (invoke, on_connected); outside a
 * call, nobody. */
wh_sel wh_to_caller(void);
/** One connection, by id. */
wh_sel wh_to_connection(wh_str id);
/** Every connection of `user`. */
wh_sel wh_to_user(wh_str user);
/** Every connection in `group`. */
wh_sel wh_to_group(wh_str group);
/** Only connections of `user`; a second, different user selects nobody. */
wh_sel wh_with_user(wh_sel to, wh_str user);
/** Only connections in `group` (too). */
wh_sel wh_with_group(wh_sel to, wh_str group);
/** Only connections with the attribute `key`, any value when `value` is
 * none, else one matching it (`*` and `?` are wildcards). */
wh_sel wh_with_attribute(wh_sel to, wh_str key, wh_str value);
/** Without the connection `id`. */
wh_sel wh_except(wh_sel to, wh_str id);
/** How long an invoke waits, in ms, all clients together (capped by the
 * host's `--invoke-timeout`, which applies without it). */
wh_sel wh_timeout(wh_sel to, uint32_t ms);

/** Fire and forget: calls `method` on every selected client with `args`
 * (an array of its arguments, `wh_list(...)`; NULL: none). Selecting
 * nobody is not an error. */
wh_error wh_send(wh_sel to, const char *method, const wh_json *args);

/** What one client answered an invoke. */
typedef struct wh_client_result {
    wh_str connection_id;
    wh_str user; /* none when it has none */
    /** True with `value` (its result; JSON null is a wh_json of type
     * WH_JSON_NULL), false with `error` (what its handler threw, a
     * timeout, that it disconnected). */
    bool ok;
    wh_json *value;
    wh_str error;
} wh_client_result;

/** Calls `method` on one selected client at a time until one answers;
 * WH_ERR_NO_CLIENT_RESPONDED (listing why each failed) when none did or
 * none is selected. */
wh_error wh_invoke_one(wh_sel to, const char *method, const wh_json *args, wh_client_result *result);
/** Calls `method` on every selected client at once: every client's result
 * or error, sorted by connection id. */
wh_error wh_invoke_all(wh_sel to, const char *method, const wh_json *args, wh_client_result **results,
                       size_t *count);
/** The ids of the selected connections, sorted. */
wh_error wh_connection_ids(wh_sel to, wh_str **ids, size_t *count);

/* ------------------------------------------------------------------------
 * Groups and presence
 */

/** Adds a connection to a group; WH_ERR_NOT_FOUND when it is gone. */
wh_error wh_groups_add(wh_str connection_id, wh_str group);
/** Removes a connection from a group (not being in it is fine). */
wh_error wh_groups_remove(wh_str connection_id, wh_str group);

/** A user who has at least one connection to this hub. */
typedef struct wh_user_presence {
    wh_str user;
    const wh_str *connections; /* sorted ids */
    size_t connection_count;
    const wh_str *nodes; /* sorted node ids */
    size_t node_count;
} wh_user_presence;

/** Snapshots of who is connected (sorted; across the cluster). */
wh_error wh_presence_connections(wh_connection **list, size_t *count);
wh_error wh_presence_by_user(wh_str user, wh_connection **list, size_t *count);
wh_error wh_presence_in_group(wh_str group, wh_connection **list, size_t *count);
/** Connections with attribute `key` (any value when `value` is none). */
wh_error wh_presence_by_attribute(wh_str key, wh_str value, wh_connection **list, size_t *count);
wh_error wh_presence_online_users(wh_user_presence **list, size_t *count);
wh_error wh_presence_is_user_online(wh_str user, bool *online);

/* ------------------------------------------------------------------------
 * The key-value store (needs `[grants] kv = true` in the manifest; without
 * it every call is WH_ERR_UNAUTHORIZED)
 */

/** The value of `key`; `*value` is none when it is absent or expired. */
wh_error wh_kv_get(wh_str key, wh_str *value);
/** Sets `key` to `value`; it expires after `ttl_ms` (0: never, and any
 * expiry is cleared). */
wh_error wh_kv_set(wh_str key, wh_str value, uint64_t ttl_ms);
/** Removes `key`; `*existed` (may be NULL) says whether it was there. */
wh_error wh_kv_delete(wh_str key, bool *existed);
/** Adds `by` to the integer at `key` (0 when absent); `*sum` (may be
 * NULL) is the new value. Atomic across the cluster. */
wh_error wh_kv_increment(wh_str key, int64_t by, int64_t *sum);
/** The keys that start with `prefix`, sorted, at most `limit` (<= 1000). */
wh_error wh_kv_keys(wh_str prefix, uint32_t limit, wh_str **keys, size_t *count);
/** The value of `key` parsed as JSON; `*value` is NULL when absent.
 * Text that is not JSON is WH_ERR_INTERNAL. */
wh_error wh_kv_get_json(wh_str key, wh_json **value);
/** Sets `key` to `value` encoded as JSON (`ttl_ms` as for wh_kv_set). */
wh_error wh_kv_set_json(wh_str key, const wh_json *value, uint64_t ttl_ms);

/* ------------------------------------------------------------------------
 * Streams (of the running call)
 */

/** Sends one item of the running streaming method to its caller; waits
 * while the client is behind. When the caller cancelled or left it
 * returns an error (WH_ERR_UNAVAILABLE): return it, and the SDK ends the
 * stream quietly, as the Rust SDK does. */
wh_error wh_stream_send(const wh_json *item);
/** Sleeps `ms` milliseconds (not the hub's running time; at most the
 * host's `--invoke-timeout` per call); false when the call was cancelled. */
bool wh_sleep(uint32_t ms);
/** True once the caller cancelled the running call or left. */
bool wh_is_cancelled(void);
/** How many upload streams the caller attached to the running call. */
uint32_t wh_upload_count(void);
/** The next item of upload `index`; `*item` is NULL once the client
 * completed it. An upload the client failed is WH_ERR_INTERNAL with its
 * error (the client reads `HubException: <error>`). */
wh_error wh_upload_next(uint32_t index, wh_json **item);

/* ------------------------------------------------------------------------
 * Outbound HTTP (needs `[grants] http = ["host", ...]` in the manifest and
 * the operator's `--http-allow`)
 */

/** A request: plain data. */
typedef struct wh_http_request {
    const char *method; /* "GET", "POST", ...; NULL is GET */
    wh_str url;         /* absolute http:// or https:// */
    const wh_pair *headers;
    size_t header_count;
    const void *body; /* body_len bytes; none when body_len is 0 */
    size_t body_len;
    /** Give up after this long (ms; 0 counts as 1); < 0: the hub's
     * `http-timeout`, which is also the most it may be. */
    int64_t timeout_ms;
} wh_http_request;

/** A whole response. */
typedef struct wh_http_response {
    uint16_t status;
    const wh_pair *headers; /* names lowercase, one name's values together */
    size_t header_count;
    /** The body's bytes (NUL-terminated; not necessarily UTF-8: see
     * wh_utf8_lossy). */
    wh_str body;
} wh_http_response;

/** Sends `request` and waits for the whole response (any status is a
 * response; redirects are returned, not followed). Errors: unauthorized
 * (no grant covers the URL), invalid-argument (a malformed URL, method or
 * header), timeout, unavailable (refused, DNS, TLS, a body over the cap). */
wh_error wh_http_send(const wh_http_request *request, wh_http_response *response);

/** The response's body as text: WH_ERR_INTERNAL (`the response body is
 * not UTF-8: invalid utf-8 sequence of 1 bytes from index 3`) when it is
 * not UTF-8, as the Rust SDK's `Response::text`. */
wh_error wh_http_text(const wh_http_response *response, wh_str *text);

/** `bytes` as valid UTF-8: each malformed sequence becomes U+FFFD, as
 * Rust's `String::from_utf8_lossy` does. */
wh_str wh_utf8_lossy(wh_str bytes);

/* ------------------------------------------------------------------------
 * Log, time, randomness
 */

/** Log levels. */
typedef enum wh_level {
    WH_TRACE = 0,
    WH_DEBUG,
    WH_INFO,
    WH_WARN,
    WH_ERROR,
} wh_level;

/** Logs a printf-formatted message to the host's log (tagged with the
 * hub, connection and method). `printf` to stdout or stderr is logged
 * too, a line at a time (at info and warn), without the method. */
void wh_log(wh_level level, const char *format, ...) WH_PRINTF(2, 3);
/** Logs `message` with structured fields. */
void wh_log_fields(wh_level level, wh_str message, const wh_pair *fields, size_t count);
#define wh_log_trace(...) wh_log(WH_TRACE, __VA_ARGS__)
#define wh_log_debug(...) wh_log(WH_DEBUG, __VA_ARGS__)
#define wh_log_info(...) wh_log(WH_INFO, __VA_ARGS__)
#define wh_log_warn(...) wh_log(WH_WARN, __VA_ARGS__)
#define wh_log_error(...) wh_log(WH_ERROR, __VA_ARGS__)

/** Milliseconds since the Unix epoch, from the host's clock. */
uint64_t wh_now_ms(void);
/** Fills `buffer` with `len` bytes from the host's cryptographic source. */
void wh_random_bytes(void *buffer, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* WASMHUB_H */
