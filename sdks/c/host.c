/*
 * wasmhub for C: the wrappers of the host's imports: clients and
 * selections, groups, presence, the key-value store, streams, outbound
 * HTTP, log, time and randomness. Each borrows our strings for the call,
 * copies what the import returns into the arena (freeing the WIT value),
 * and turns the WIT error into a `wh_error`.
 */
#include "wasmhub_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Clients
 */

static wh_sel selection(void) {
    wh_sel s;
    memset(&s, 0, sizeof s);
    s.connection = s.user = WH_NONE;
    s.timeout_ms = -1;
    return s;
}

wh_sel wh_to_all(void) { return selection(); }

wh_sel wh_to_caller(void) {
    wh_sel s = selection();
    /* No connection has the id "": outside a call, nobody. */
    s.connection = wh__in_call ? wh__current_caller : WH_S("");
    return s;
}

wh_sel wh_to_connection(wh_str id) {
    wh_sel s = selection();
    s.connection = wh_str_copy(id);
    return s;
}

wh_sel wh_to_user(wh_str user) { return wh_with_user(selection(), user); }

wh_sel wh_to_group(wh_str group) { return wh_with_group(selection(), group); }

wh_sel wh_with_user(wh_sel to, wh_str user) {
    if (to.user.ptr != NULL && !wh_str_eq(to.user, user)) {
        to.connection = WH_S(""); /* a connection has one user: nobody */
        return to;
    }
    to.user = wh_str_copy(user);
    if (to.user.ptr == NULL) to.user = WH_S("");
    return to;
}

/** `items` with `item` appended, as a new arena array. */
static const wh_str *append_str(const wh_str *items, size_t count, wh_str item) {
    wh_str *grown = wh_alloc((count + 1) * sizeof *grown);
    if (count) memcpy(grown, items, count * sizeof *grown);
    grown[count] = item.ptr ? wh_str_copy(item) : WH_S("");
    return grown;
}

wh_sel wh_with_group(wh_sel to, wh_str group) {
    to.groups = append_str(to.groups, to.group_count, group);
    to.group_count++;
    return to;
}

wh_sel wh_with_attribute(wh_sel to, wh_str key, wh_str value) {
    wh_pair *grown = wh_alloc((to.attribute_count + 1) * sizeof *grown);
    if (to.attribute_count) memcpy(grown, to.attributes, to.attribute_count * sizeof *grown);
    grown[to.attribute_count].name = key.ptr ? wh_str_copy(key) : WH_S("");
    grown[to.attribute_count].value = wh_str_copy(value);
    to.attributes = grown;
    to.attribute_count++;
    return to;
}

wh_sel wh_except(wh_sel to, wh_str id) {
    to.excluding = append_str(to.excluding, to.excluding_count, id);
    to.excluding_count++;
    return to;
}

wh_sel wh_timeout(wh_sel to, uint32_t ms) {
    to.timeout_ms = ms;
    return to;
}

static hub_list_string_t to_wit_list(const wh_str *items, size_t count) {
    hub_string_t *list = wh_alloc((count ? count : 1) * sizeof *list);
    for (size_t i = 0; i < count; i++) list[i] = wh__to_wit(items[i]);
    return (hub_list_string_t){list, count};
}

/** The WIT selector of a selection (borrowing its strings). */
static wasmhub_hub_types_selector_t to_wit_selector(const wh_sel *to) {
    wasmhub_hub_types_selector_t s;
    s.connection = wh__to_wit_option(to->connection);
    s.user = wh__to_wit_option(to->user);
    s.groups = to_wit_list(to->groups, to->group_count);
    hub_tuple2_string_option_string_t *attributes =
        wh_alloc((to->attribute_count ? to->attribute_count : 1) * sizeof *attributes);
    for (size_t i = 0; i < to->attribute_count; i++) {
        attributes[i].f0 = wh__to_wit(to->attributes[i].name);
        attributes[i].f1 = wh__to_wit_option(to->attributes[i].value);
    }
    s.attributes = (hub_list_tuple2_string_option_string_t){attributes, to->attribute_count};
    s.excluding = to_wit_list(to->excluding, to->excluding_count);
    return s;
}

/** A send/invoke argument list as JSON: an array, or NULL for none. */
static wh_error encode_args(const wh_json *args, wh_str *json) {
    if (args == NULL || args->type == WH_JSON_NULL) {
        *json = WH_S("[]");
        return WH_OK;
    }
    *json = wh_json_encode(args);
    if (args->type != WH_JSON_ARRAY) {
        return wh_err(WH_ERR_INVALID_ARGUMENT, "the arguments must be a JSON array (wh_list(...)), not %s",
                      json->ptr);
    }
    return WH_OK;
}

wh_error wh_send(wh_sel to, const char *method, const wh_json *args) {
    wh_str json;
    WH_TRY(encode_args(args, &json));
    wasmhub_hub_types_selector_t selector = to_wit_selector(&to);
    hub_string_t name = wh__to_wit(wh_cstr(method));
    hub_string_t payload = wh__to_wit(json);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_clients_send(&selector, &name, &payload, &err)) return wh__from_wit_error(&err);
    return WH_OK;
}

static void from_wit_client_result(const wasmhub_hub_types_client_result_t *r, wh_client_result *out) {
    out->connection_id = wh__from_wit(&r->connection_id);
    out->user = wh__from_wit_option(&r->user);
    out->value = NULL;
    out->error = WH_NONE;
    if (r->value.is_err) {
        out->ok = false;
        out->error = wh__from_wit(&r->value.val.err);
        return;
    }
    wh_str error;
    out->value = wh_json_parse((wh_str){(const char *)r->value.val.ok.ptr, r->value.val.ok.len}, &error);
    out->ok = out->value != NULL;
    if (!out->ok) out->error = wh_strf("the client's result does not have the expected type: %s", error.ptr);
}

wh_error wh_invoke_one(wh_sel to, const char *method, const wh_json *args, wh_client_result *result) {
    wh_str json;
    WH_TRY(encode_args(args, &json));
    wasmhub_hub_types_selector_t selector = to_wit_selector(&to);
    hub_string_t name = wh__to_wit(wh_cstr(method));
    hub_string_t payload = wh__to_wit(json);
    uint32_t timeout = to.timeout_ms < 0 ? 0 : to.timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)to.timeout_ms;
    wasmhub_hub_types_client_result_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_clients_invoke_one(&selector, &name, &payload, to.timeout_ms < 0 ? NULL : &timeout, &r, &err)) {
        return wh__from_wit_error(&err);
    }
    from_wit_client_result(&r, result);
    wasmhub_hub_types_client_result_free(&r);
    return WH_OK;
}

wh_error wh_invoke_all(wh_sel to, const char *method, const wh_json *args, wh_client_result **results,
                       size_t *count) {
    wh_str json;
    WH_TRY(encode_args(args, &json));
    wasmhub_hub_types_selector_t selector = to_wit_selector(&to);
    hub_string_t name = wh__to_wit(wh_cstr(method));
    hub_string_t payload = wh__to_wit(json);
    uint32_t timeout = to.timeout_ms < 0 ? 0 : to.timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)to.timeout_ms;
    wasmhub_hub_clients_list_client_result_t list;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_clients_invoke_all(&selector, &name, &payload, to.timeout_ms < 0 ? NULL : &timeout, &list,
                                        &err)) {
        return wh__from_wit_error(&err);
    }
    wh_client_result *out = wh_alloc((list.len ? list.len : 1) * sizeof *out);
    for (size_t i = 0; i < list.len; i++) from_wit_client_result(&list.ptr[i], &out[i]);
    *results = out;
    *count = list.len;
    wasmhub_hub_clients_list_client_result_free(&list);
    return WH_OK;
}

wh_error wh_connection_ids(wh_sel to, wh_str **ids, size_t *count) {
    wasmhub_hub_types_selector_t selector = to_wit_selector(&to);
    hub_list_string_t list;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_clients_connection_ids(&selector, &list, &err)) return wh__from_wit_error(&err);
    *ids = (wh_str *)wh__from_wit_list(&list);
    *count = list.len;
    hub_list_string_free(&list);
    return WH_OK;
}

/* ------------------------------------------------------------------------
 * Groups and presence
 */

wh_error wh_groups_add(wh_str connection_id, wh_str group) {
    hub_string_t id = wh__to_wit(connection_id), name = wh__to_wit(group);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_groups_add(&id, &name, &err)) return wh__from_wit_error(&err);
    return WH_OK;
}

wh_error wh_groups_remove(wh_str connection_id, wh_str group) {
    hub_string_t id = wh__to_wit(connection_id), name = wh__to_wit(group);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_groups_remove(&id, &name, &err)) return wh__from_wit_error(&err);
    return WH_OK;
}

/** A presence list as ours; frees the WIT one. */
static void from_wit_infos(wasmhub_hub_presence_list_connection_info_t *list, wh_connection **out, size_t *count) {
    wh_connection *conns = wh_alloc((list->len ? list->len : 1) * sizeof *conns);
    for (size_t i = 0; i < list->len; i++) wh__from_wit_info(&list->ptr[i], &conns[i]);
    *out = conns;
    *count = list->len;
    wasmhub_hub_presence_list_connection_info_free(list);
}

wh_error wh_presence_connections(wh_connection **list, size_t *count) {
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections(&r, &err)) return wh__from_wit_error(&err);
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_by_user(wh_str user, wh_connection **list, size_t *count) {
    hub_string_t u = wh__to_wit(user);
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections_by_user(&u, &r, &err)) return wh__from_wit_error(&err);
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_in_group(wh_str group, wh_connection **list, size_t *count) {
    hub_string_t g = wh__to_wit(group);
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections_in_group(&g, &r, &err)) return wh__from_wit_error(&err);
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_by_attribute(wh_str key, wh_str value, wh_connection **list, size_t *count) {
    hub_string_t k = wh__to_wit(key), v = wh__to_wit(value);
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections_by_attribute(&k, value.ptr ? &v : NULL, &r, &err)) {
        return wh__from_wit_error(&err);
    }
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_online_users(wh_user_presence **list, size_t *count) {
    wasmhub_hub_presence_list_user_presence_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_online_users(&r, &err)) return wh__from_wit_error(&err);
    wh_user_presence *users = wh_alloc((r.len ? r.len : 1) * sizeof *users);
    for (size_t i = 0; i < r.len; i++) {
        users[i].user = wh__from_wit(&r.ptr[i].user);
        users[i].connections = wh__from_wit_list(&r.ptr[i].connections);
        users[i].connection_count = r.ptr[i].connections.len;
        users[i].nodes = wh__from_wit_list(&r.ptr[i].nodes);
        users[i].node_count = r.ptr[i].nodes.len;
    }
    *list = users;
    *count = r.len;
    wasmhub_hub_presence_list_user_presence_free(&r);
    return WH_OK;
}

wh_error wh_presence_is_user_online(wh_str user, bool *online) {
    hub_string_t u = wh__to_wit(user);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_is_user_online(&u, online, &err)) return wh__from_wit_error(&err);
    return WH_OK;
}

/* ------------------------------------------------------------------------
 * The key-value store
 */

wh_error wh_kv_get(wh_str key, wh_str *value) {
    hub_string_t k = wh__to_wit(key);
    hub_option_string_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_get(&k, &r, &err)) return wh__from_wit_error(&err);
    *value = wh__from_wit_option(&r);
    hub_option_string_free(&r);
    return WH_OK;
}

wh_error wh_kv_set(wh_str key, wh_str value, uint64_t ttl_ms) {
    hub_string_t k = wh__to_wit(key), v = wh__to_wit(value);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_set(&k, &v, ttl_ms ? &ttl_ms : NULL, &err)) return wh__from_wit_error(&err);
    return WH_OK;
}

wh_error wh_kv_delete(wh_str key, bool *existed) {
    hub_string_t k = wh__to_wit(key);
    bool was = false;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_delete(&k, &was, &err)) return wh__from_wit_error(&err);
    if (existed) *existed = was;
    return WH_OK;
}

wh_error wh_kv_increment(wh_str key, int64_t by, int64_t *sum) {
    hub_string_t k = wh__to_wit(key);
    int64_t total = 0;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_increment(&k, by, &total, &err)) return wh__from_wit_error(&err);
    if (sum) *sum = total;
    return WH_OK;
}

wh_error wh_kv_keys(wh_str prefix, uint32_t limit, wh_str **keys, size_t *count) {
    hub_string_t p = wh__to_wit(prefix);
    hub_list_string_t list;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_keys(&p, limit, &list, &err)) return wh__from_wit_error(&err);
    *keys = (wh_str *)wh__from_wit_list(&list);
    *count = list.len;
    hub_list_string_free(&list);
    return WH_OK;
}

wh_error wh_kv_get_json(wh_str key, wh_json **value) {
    wh_str text;
    *value = NULL;
    WH_TRY(wh_kv_get(key, &text));
    if (text.ptr == NULL) return WH_OK;
    wh_str error;
    *value = wh_json_parse(text, &error);
    if (*value == NULL) {
        return wh_err(WH_ERR_INTERNAL, "the value of '%s' is not the JSON expected: %s", key.ptr, error.ptr);
    }
    return WH_OK;
}

wh_error wh_kv_set_json(wh_str key, const wh_json *value, uint64_t ttl_ms) {
    return wh_kv_set(key, wh_json_encode(value), ttl_ms);
}

/* ------------------------------------------------------------------------
 * Streams
 */

/** A WIT stream-error as ours (as the Rust SDK maps it); frees it. */
static wh_error from_stream_error(wasmhub_hub_streams_stream_error_t *e) {
    wh_error out;
    switch (e->tag) {
    case WASMHUB_HUB_STREAMS_STREAM_ERROR_CANCELLED:
        return wh_err(WH_ERR_UNAVAILABLE, "the caller cancelled the call or left");
    case WASMHUB_HUB_STREAMS_STREAM_ERROR_UPLOAD_FAILED: /* reads `HubException: <text>`, as in ASP.NET */
        out = wh_err_str(WH_ERR_INTERNAL, wh__from_wit(&e->val.upload_failed));
        break;
    case WASMHUB_HUB_STREAMS_STREAM_ERROR_NO_STREAM:
        out = wh_err_str(WH_ERR_NOT_FOUND, wh__from_wit(&e->val.no_stream));
        break;
    default:
        out = wh_err_str(WH_ERR_INVALID_ARGUMENT, wh__from_wit(&e->val.invalid_item));
        break;
    }
    wasmhub_hub_streams_stream_error_free(e);
    return out;
}

wh_error wh_stream_send(const wh_json *item) {
    hub_string_t json = wh__to_wit(wh_json_encode(item));
    wasmhub_hub_streams_stream_error_t err;
    if (wasmhub_hub_streams_send_item(&json, &err)) return WH_OK;
    if (err.tag == WASMHUB_HUB_STREAMS_STREAM_ERROR_CANCELLED) wh__stream_cancelled = true;
    return from_stream_error(&err);
}

bool wh_sleep(uint32_t ms) { return wasmhub_hub_streams_sleep(ms); }

bool wh_is_cancelled(void) { return wasmhub_hub_streams_is_cancelled(); }

uint32_t wh_upload_count(void) { return wasmhub_hub_streams_upload_count(); }

wh_error wh_upload_next(uint32_t index, wh_json **item) {
    wasmhub_hub_streams_option_json_t r;
    wasmhub_hub_streams_stream_error_t err;
    *item = NULL;
    if (!wasmhub_hub_streams_next_upload(index, &r, &err)) return from_stream_error(&err);
    if (!r.is_some) return WH_OK;
    wh_str text = wh__from_wit(&r.val);
    wasmhub_hub_streams_option_json_free(&r);
    wh_str error;
    *item = wh_json_parse(text, &error);
    if (*item == NULL) return wh_err_str(WH_ERR_INVALID_ARGUMENT, error);
    return WH_OK;
}

/* ------------------------------------------------------------------------
 * Outbound HTTP
 */

wh_error wh_http_send(const wh_http_request *request, wh_http_response *response) {
    wasmhub_hub_http_request_t r;
    r.method = wh__to_wit(wh_cstr(request->method ? request->method : "GET"));
    r.url = wh__to_wit(request->url);
    hub_tuple2_string_string_t *headers =
        wh_alloc((request->header_count ? request->header_count : 1) * sizeof *headers);
    for (size_t i = 0; i < request->header_count; i++) {
        headers[i].f0 = wh__to_wit(request->headers[i].name);
        headers[i].f1 = wh__to_wit(request->headers[i].value);
    }
    r.headers = (hub_list_tuple2_string_string_t){headers, request->header_count};
    r.body = (hub_list_u8_t){(uint8_t *)(request->body_len ? request->body : ""), request->body_len};
    /* As the Rust and JavaScript SDKs: at least 1 ms, at most u32::MAX. */
    r.timeout_ms.is_some = request->timeout_ms >= 0;
    r.timeout_ms.val = request->timeout_ms > UINT32_MAX ? UINT32_MAX
                       : request->timeout_ms < 1   ? 1
                                                   : (uint32_t)request->timeout_ms;
    wasmhub_hub_http_response_t answer;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_http_send(&r, &answer, &err)) return wh__from_wit_error(&err);
    response->status = answer.status;
    response->headers = wh__from_wit_pairs(&answer.headers);
    response->header_count = answer.headers.len;
    response->body = wh__str_n(answer.body.ptr, answer.body.len);
    wasmhub_hub_http_response_free(&answer);
    return WH_OK;
}

wh_error wh_http_text(const wh_http_response *response, wh_str *text) {
    wh_str why;
    if (!wh__utf8_valid(response->body, &why)) {
        return wh_err_str(WH_ERR_INTERNAL, wh_str_cat(WH_S("the response body is not UTF-8: "), why));
    }
    *text = response->body;
    return WH_OK;
}

/* ------------------------------------------------------------------------
 * Log, time, randomness
 */

void wh_log_fields(wh_level level, wh_str message, const wh_pair *fields, size_t count) {
    hub_tuple2_string_string_t *pairs = wh_alloc((count ? count : 1) * sizeof *pairs);
    for (size_t i = 0; i < count; i++) {
        pairs[i].f0 = wh__to_wit(fields[i].name);
        pairs[i].f1 = wh__to_wit(fields[i].value);
    }
    hub_list_tuple2_string_string_t list = {pairs, count};
    hub_string_t text = wh__to_wit(message);
    wasmhub_hub_log_log((wasmhub_hub_log_level_t)(level <= WH_ERROR ? level : WH_ERROR), &text, &list);
}

void wh_log(wh_level level, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    wh_str message = wh__vstrf(format, ap);
    va_end(ap);
    wh_log_fields(level, message, NULL, 0);
}

uint64_t wh_now_ms(void) { return wasmhub_hub_system_now(); }

void wh_random_bytes(void *buffer, size_t len) {
    unsigned char *out = buffer;
    while (len > 0) {
        uint32_t want = len > 65536 ? 65536 : (uint32_t)len;
        hub_list_u8_t bytes;
        wasmhub_hub_system_random_bytes(want, &bytes);
        size_t got = bytes.len < want ? bytes.len : want;
        memcpy(out, bytes.ptr, got);
        hub_list_u8_free(&bytes);
        if (got == 0) abort(); /* the host promised `len` bytes */
        out += got;
        len -= got;
    }
}
