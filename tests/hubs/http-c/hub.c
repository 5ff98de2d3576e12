/*
 * A test hub for outbound HTTP from C (tests/tests/http.rs): one method,
 * `HttpSend(method, url, headers, body, timeoutMs)`, that sends the request
 * with the SDK's `wh_http_send` and answers `{ status, headers, body }`
 * (the body as text), as the Rust test hub's method of that name does:
 * `headers` is a list of [name, value], `timeoutMs` an integer or null.
 */

#include "wasmhub.h"

/** `[[name, value], ...]` as pairs, with serde's texts for what is not
 * (the Rust hub reads it as `Vec<(String, String)>`). */
static wh_error header_pairs(const wh_json *list, wh_pair **pairs) {
    *pairs = wh_alloc((list->count ? list->count : 1) * sizeof **pairs);
    for (size_t i = 0; i < list->count; i++) {
        const wh_json *pair = list->items[i];
        wh_str reason = WH_NONE;
        /* In serde's order: element by element, then the leftovers. */
        if (pair->type != WH_JSON_ARRAY) {
            reason = wh_strf("invalid type: %s, expected a tuple of size 2", wh_json_describe(pair).ptr);
        } else {
            for (size_t k = 0; k < 2 && wh_is_none(reason); k++) {
                if (pair->count <= k) {
                    reason = wh_strf("invalid length %zu, expected a tuple of size 2", k);
                } else if (pair->items[k]->type != WH_JSON_STRING) {
                    reason = wh_strf("invalid type: %s, expected a string", wh_json_describe(pair->items[k]).ptr);
                }
            }
            if (wh_is_none(reason) && pair->count > 2) {
                reason = wh_strf("invalid length %zu, expected fewer elements in array", pair->count);
            }
        }
        if (!wh_is_none(reason)) {
            return wh_err(WH_ERR_INVALID_ARGUMENT, "%s Argument 2: %s", WH_BINDING_ERROR, reason.ptr);
        }
        (*pairs)[i].name = pair->items[0]->str;
        (*pairs)[i].value = pair->items[1]->str;
    }
    return WH_OK;
}

static wh_error http_send(wh_ctx *ctx, wh_json **args, wh_json **result) {
    wh_pair *headers;
    WH_TRY(header_pairs(args[2], &headers));
    wh_str body = args[3]->str;
    wh_http_request request = {
        .method = args[0]->str.ptr,
        .url = args[1]->str,
        .headers = headers,
        .header_count = args[2]->count,
        .body = body.ptr,
        .body_len = body.len,
        .timeout_ms = args[4]->type == WH_JSON_NULL ? -1 : args[4]->has_i64 ? args[4]->i64 : INT64_MAX,
    };
    wh_http_response response;
    WH_TRY(wh_http_send(&request, &response));
    wh_str text;
    WH_TRY(wh_http_text(&response, &text));
    wh_json *answered = wh_array();
    for (size_t i = 0; i < response.header_count; i++) {
        wh_array_push(answered, wh_list(2, wh_string(response.headers[i].name), wh_string(response.headers[i].value)));
    }
    wh_json *answer = wh_object();
    wh_object_set(answer, "status", wh_uint(response.status));
    wh_object_set(answer, "headers", answered);
    wh_object_set(answer, "body", wh_string(text));
    *result = answer;
    return WH_OK;
}

static const wh_method METHODS[] = {
    {"HttpSend", http_send, {WH_STRING, WH_STRING, WH_ARRAY, WH_STRING, WH_U64 | WH_NULLABLE}},
    {0},
};

const wh_hub wh_hub_def = {.methods = METHODS};
