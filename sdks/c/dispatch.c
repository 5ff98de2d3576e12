/*
 * wasmhub for C: the five `handler` exports. `init` checks the method
 * table; a call copies its WIT arguments into the arena (the conversions
 * here are shared with host.c), finds the method, binds its arguments,
 * calls the handler and encodes its result. The call's context
 * (wh_details, wh_query, ...) is here too, since it reads the running
 * call's state. Every export ends in `finish`, which resets the arena.
 */
#include "wasmhub_internal.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * From the WIT types to ours (copies in the arena)
 */

wh_str wh__from_wit(const hub_string_t *s) { return wh__str_n(s->ptr, s->len); }

wh_str wh__from_wit_option(const hub_option_string_t *s) {
    return s->is_some ? wh__from_wit(&s->val) : WH_NONE;
}

/** A borrowed view of our string for an import. */
hub_string_t wh__to_wit(wh_str s) { return (hub_string_t){(uint8_t *)(s.ptr ? s.ptr : ""), s.len}; }

hub_option_string_t wh__to_wit_option(wh_str s) {
    hub_option_string_t o;
    o.is_some = s.ptr != NULL;
    o.val = wh__to_wit(s);
    return o;
}

const wh_str *wh__from_wit_list(const hub_list_string_t *list) {
    wh_str *items = wh_alloc((list->len ? list->len : 1) * sizeof *items);
    for (size_t i = 0; i < list->len; i++) items[i] = wh__from_wit(&list->ptr[i]);
    return items;
}

const wh_pair *wh__from_wit_pairs(const hub_list_tuple2_string_string_t *list) {
    wh_pair *items = wh_alloc((list->len ? list->len : 1) * sizeof *items);
    for (size_t i = 0; i < list->len; i++) {
        items[i].name = wh__from_wit(&list->ptr[i].f0);
        items[i].value = wh__from_wit(&list->ptr[i].f1);
    }
    return items;
}

static const wh_attribute *from_wit_attributes(const hub_list_tuple2_string_list_string_t *list) {
    wh_attribute *items = wh_alloc((list->len ? list->len : 1) * sizeof *items);
    for (size_t i = 0; i < list->len; i++) {
        items[i].key = wh__from_wit(&list->ptr[i].f0);
        items[i].values = wh__from_wit_list(&list->ptr[i].f1);
        items[i].count = list->ptr[i].f1.len;
    }
    return items;
}

static wh_connection *from_wit_connection(const wasmhub_hub_types_connection_t *c) {
    wh_connection *conn = wh_alloc(sizeof *conn);
    conn->id = wh__from_wit(&c->id);
    conn->user = wh__from_wit_option(&c->user);
    conn->hub = wh__from_wit(&c->hub);
    conn->node = wh__from_wit(&c->node);
    conn->transport = wh__from_wit(&c->transport);
    conn->groups = wh__from_wit_list(&c->groups);
    conn->group_count = c->groups.len;
    conn->attributes = from_wit_attributes(&c->attributes);
    conn->attribute_count = c->attributes.len;
    conn->query = wh__from_wit_pairs(&c->query);
    conn->query_count = c->query.len;
    conn->headers = wh__from_wit_pairs(&c->headers);
    conn->header_count = c->headers.len;
    return conn;
}

void wh__from_wit_info(const wasmhub_hub_types_connection_info_t *c, wh_connection *conn) {
    memset(conn, 0, sizeof *conn);
    conn->id = wh__from_wit(&c->id);
    conn->user = wh__from_wit_option(&c->user);
    conn->hub = WH_S("");
    conn->node = wh__from_wit(&c->node);
    conn->transport = WH_S("");
    conn->groups = wh__from_wit_list(&c->groups);
    conn->group_count = c->groups.len;
    conn->attributes = from_wit_attributes(&c->attributes);
    conn->attribute_count = c->attributes.len;
    conn->query = conn->headers = wh_alloc(sizeof(wh_pair));
}

/* ------------------------------------------------------------------------
 * The context
 */

/** The id of the connection whose call is running, for wh_to_caller();
 * `wh__in_call` is false between calls. */
wh_str wh__current_caller;
bool wh__in_call;

const wh_connection *wh_details(wh_ctx *ctx) {
    if (ctx->details != NULL) return ctx->details;
    wasmhub_hub_caller_connection_t conn;
    /* Only while this caller's call runs: a context kept past its call
     * must not read another caller's record. */
    if (wh__in_call && wh_str_eq(wh__current_caller, ctx->connection_id) && wasmhub_hub_caller_details(&conn)) {
        wh_connection *details = from_wit_connection(&conn);
        wasmhub_hub_caller_connection_free(&conn);
        if (wh_str_eq(details->id, ctx->connection_id)) {
            ctx->details = details;
            return details;
        }
    }
    wh_connection *empty = wh_alloc(sizeof *empty);
    memset(empty, 0, sizeof *empty);
    empty->id = ctx->connection_id;
    empty->user = ctx->user;
    empty->hub = empty->node = empty->transport = WH_S("");
    empty->groups = wh_alloc(sizeof(wh_str));
    empty->attributes = wh_alloc(sizeof(wh_attribute));
    empty->query = empty->headers = wh_alloc(sizeof(wh_pair));
    ctx->details = empty;
    return empty;
}

wh_str wh_query(wh_ctx *ctx, const char *name) {
    const wh_connection *c = wh_details(ctx);
    wh_str wanted = wh_cstr(name);
    for (size_t i = 0; i < c->query_count; i++) {
        if (wh_str_eq(c->query[i].name, wanted)) return c->query[i].value;
    }
    for (size_t i = 0; i < c->query_count; i++) {
        if (wh__ascii_eq_fold(c->query[i].name, name)) return c->query[i].value;
    }
    return WH_NONE;
}

wh_str wh_header(wh_ctx *ctx, const char *name) {
    const wh_connection *c = wh_details(ctx);
    for (size_t i = 0; i < c->header_count; i++) {
        if (wh__ascii_eq_fold(c->headers[i].name, name)) return c->headers[i].value;
    }
    return WH_NONE;
}

wh_str wh_attribute_value(wh_ctx *ctx, const char *key) {
    const wh_connection *c = wh_details(ctx);
    for (size_t i = 0; i < c->attribute_count; i++) {
        if (wh__ascii_eq_fold(c->attributes[i].key, key) && c->attributes[i].count > 0) {
            return c->attributes[i].values[0];
        }
    }
    return WH_NONE;
}

/* ------------------------------------------------------------------------
 * The exports
 */

/** Checks the method table once: every row named and handled, types
 * known, no name twice (case-insensitively: both could never be reached). */
static wh_error check_table(void) {
    const wh_method *methods = wh_hub_def.methods;
    if (methods == NULL) return WH_OK;
    for (size_t i = 0; methods[i].name != NULL; i++) {
        const wh_method *m = &methods[i];
        if (m->handler == NULL) return wh_err(WH_ERR_INTERNAL, "hub method '%s' has no handler", m->name);
        for (size_t p = 0; p < wh__arity(m); p++) {
            int base = m->params[p] & 0xff;
            if (base < WH_ANY || base > WH_OBJECT || (m->params[p] & ~(0xff | WH_NULLABLE))) {
                return wh_err(WH_ERR_INTERNAL, "hub method '%s': parameter %zu has an unknown type", m->name, p);
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (wh__ascii_eq_fold(wh_cstr(methods[j].name), m->name)) {
                return wh_err(WH_ERR_INTERNAL, "hub method '%s' is defined twice", m->name);
            }
        }
    }
    return WH_OK;
}

/** The method `name` (any case), called the way it is meant to be. */
static wh_error find_method(wh_str name, int kind, const wh_method **found) {
    const wh_method *methods = wh_hub_def.methods;
    for (size_t i = 0; methods != NULL && methods[i].name != NULL; i++) {
        const wh_method *m = &methods[i];
        if (!wh__ascii_eq_fold(name, m->name)) continue;
        if ((m->kind == WH_STREAM) != (kind == WH_STREAM)) {
            return wh_err(WH_ERR_WRONG_INVOCATION,
                          "The client attempted to invoke the %s '%s' method with a %s invocation.",
                          m->kind == WH_STREAM ? "streaming" : "non-streaming", m->name,
                          m->kind == WH_STREAM ? "non-streaming" : "streaming");
        }
        *found = m;
        return WH_OK;
    }
    return wh_err_str(WH_ERR_METHOD_NOT_FOUND, name);
}

/** Whether the running stream's caller cancelled (wh_stream_send saw it). */
bool wh__stream_cancelled;

/** Ends an export: its error (if any) into `err`; the arena freed. */
static bool finish(wh_error e, wasmhub_hub_types_hub_error_t *err) {
    bool ok = e.kind == WH_ERR_NONE;
    if (!ok) wh__to_wit_error(e, err);
    wh__in_call = false;
    wh__current_caller = WH_NONE;
    wh__arena_reset();
    return ok;
}

bool exports_wasmhub_hub_handler_init(exports_wasmhub_hub_handler_hub_error_t *err) {
    // The host logs what a hub prints a line at a time; stdout is not a
    // terminal, so without this a printf line would wait for 1 KiB more.
    setvbuf(stdout, NULL, _IOLBF, 0);
    wh_error e = check_table();
    if (e.kind == WH_ERR_NONE && wh_hub_def.init != NULL) e = wh_hub_def.init();
    return finish(e, err);
}

bool exports_wasmhub_hub_handler_on_connected(exports_wasmhub_hub_handler_connection_t *conn,
                                              exports_wasmhub_hub_handler_accepted_t *ret,
                                              exports_wasmhub_hub_handler_hub_error_t *err) {
    wh_connection *details = from_wit_connection(conn);
    exports_wasmhub_hub_handler_connection_free(conn);
    wh_ctx ctx = {details->id, details->user, details};
    wh__current_caller = details->id;
    wh__in_call = true;
    wh_str user = WH_NONE;
    wh_error e = wh_hub_def.on_connected ? wh_hub_def.on_connected(&ctx, &user) : WH_OK;
    if (e.kind == WH_ERR_NONE) {
        ret->user.is_some = user.ptr != NULL;
        if (ret->user.is_some) hub_string_dup_n(&ret->user.val, user.ptr, user.len);
    }
    return finish(e, err);
}

void exports_wasmhub_hub_handler_on_disconnected(exports_wasmhub_hub_handler_connection_t *conn,
                                                 hub_string_t *maybe_error) {
    wh_connection *details = from_wit_connection(conn);
    exports_wasmhub_hub_handler_connection_free(conn);
    wh_str error = WH_NONE;
    if (maybe_error != NULL) {
        error = wh__from_wit(maybe_error);
        hub_string_free(maybe_error);
    }
    wh_ctx ctx = {details->id, details->user, details};
    if (wh_hub_def.on_disconnected) wh_hub_def.on_disconnected(&ctx, error);
    wasmhub_hub_types_hub_error_t unused;
    finish(WH_OK, &unused);
}

/** The common start of invoke and invoke-stream: the caller's context,
 * the method, its bound arguments. Frees the WIT arguments. */
static wh_error begin_call(exports_wasmhub_hub_handler_caller_t *caller, hub_string_t *method,
                           exports_wasmhub_hub_handler_json_t *args, int kind, wh_ctx *ctx,
                           const wh_method **found, wh_json ***bound) {
    ctx->connection_id = wh__from_wit(&caller->id);
    ctx->user = wh__from_wit_option(&caller->user);
    ctx->details = NULL;
    wh_str name = wh__from_wit(method);
    wh_str json = wh__from_wit(args);
    exports_wasmhub_hub_handler_caller_free(caller);
    hub_string_free(method);
    exports_wasmhub_hub_handler_json_free(args);
    wh__current_caller = ctx->connection_id;
    wh__in_call = true;
    WH_TRY(find_method(name, kind, found));
    return wh__bind(*found, json, bound);
}

bool exports_wasmhub_hub_handler_invoke(exports_wasmhub_hub_handler_caller_t *caller, hub_string_t *method,
                                        exports_wasmhub_hub_handler_json_t *args,
                                        exports_wasmhub_hub_handler_json_t *ret,
                                        exports_wasmhub_hub_handler_hub_error_t *err) {
    wh_ctx ctx;
    const wh_method *m = NULL;
    wh_json **bound = NULL;
    wh_json *result = NULL;
    wh_error e = begin_call(caller, method, args, WH_PLAIN, &ctx, &m, &bound);
    if (e.kind == WH_ERR_NONE) e = m->handler(&ctx, bound, &result);
    if (e.kind == WH_ERR_NONE) {
        wh_str json = wh_json_encode(result);
        hub_string_dup_n(ret, json.ptr, json.len);
    }
    return finish(e, err);
}

bool exports_wasmhub_hub_handler_invoke_stream(exports_wasmhub_hub_handler_caller_t *caller, hub_string_t *method,
                                               exports_wasmhub_hub_handler_json_t *args,
                                               exports_wasmhub_hub_handler_hub_error_t *err) {
    wh_ctx ctx;
    const wh_method *m = NULL;
    wh_json **bound = NULL;
    wh_json *unused = NULL;
    wh__stream_cancelled = false;
    wh_error e = begin_call(caller, method, args, WH_STREAM, &ctx, &m, &bound);
    if (e.kind == WH_ERR_NONE) e = m->handler(&ctx, bound, &unused);
    /* A stream its caller cancelled ends quietly (nothing more is sent). */
    if (wh__stream_cancelled) e = WH_OK;
    wh__stream_cancelled = false;
    return finish(e, err);
}
