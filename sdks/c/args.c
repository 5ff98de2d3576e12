/*
 * wasmhub for C: binding an invocation's arguments to a method's declared
 * parameter types, with the texts serde and ASP.NET Core SignalR use for
 * wrong counts and types (and `wh_json_describe`, serde's name of a value),
 * so that a C hub's argument errors read as a Rust hub's.
 */
#include "wasmhub_internal.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Binding arguments, with serde's texts
 */

/** Rust's `{:?}` of a string: quotes, with \" \\ \n \r \t \0 and \u{..}
 * for other control characters escaped. */
static wh_str rust_debug(wh_str s) {
    /* At most 10 bytes (\u{9f}) for a byte. */
    char *out = wh_alloc(s.len * 10 + 3);
    size_t o = 0;
    out[o++] = '"';
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < s.len;) {
        size_t n;
        uint32_t c = wh__utf8_at(p + i, s.len - i, &n);
        switch (c) {
        case '"': memcpy(out + o, "\\\"", 2), o += 2; break;
        case '\\': memcpy(out + o, "\\\\", 2), o += 2; break;
        case '\n': memcpy(out + o, "\\n", 2), o += 2; break;
        case '\r': memcpy(out + o, "\\r", 2), o += 2; break;
        case '\t': memcpy(out + o, "\\t", 2), o += 2; break;
        case 0: memcpy(out + o, "\\0", 2), o += 2; break;
        default:
            if (c < 0x20 || (c >= 0x7f && c < 0xa0)) o += (size_t)sprintf(out + o, "\\u{%x}", (unsigned)c);
            else memcpy(out + o, p + i, n), o += n;
        }
        i += n;
    }
    out[o++] = '"';
    out[o] = '\0';
    return (wh_str){out, o};
}

/** How serde_json names a value it did not expect. */
static wh_str unexpected(const wh_json *v) {
    switch (v->type) {
    case WH_JSON_NULL: return WH_S("null");
    case WH_JSON_BOOL: return v->boolean ? WH_S("boolean `true`") : WH_S("boolean `false`");
    case WH_JSON_STRING: return wh_str_cat(WH_S("string "), rust_debug(v->str));
    case WH_JSON_ARRAY: return WH_S("sequence");
    case WH_JSON_OBJECT: return WH_S("map");
    case WH_JSON_NUMBER:
        if (v->kind == WH_NUM_UINT) return wh_strf("integer `%llu`", (unsigned long long)v->u64);
        if (v->kind == WH_NUM_INT) return wh_strf("integer `%lld`", (long long)v->i64);
        {
            char text[48];
            wh__format_f64(v->f64, text);
            return wh_strf("floating point `%s`", text);
        }
    }
    return WH_S("value");
}

wh_str wh_json_describe(const wh_json *value) { return value ? unexpected(value) : WH_S("null"); }

/** What serde says a parameter type expected. */
static const char *expected(int base) {
    switch (base) {
    case WH_STRING: return "a string";
    case WH_BOOL: return "a boolean";
    case WH_F64: return "f64";
    case WH_I64: return "i64";
    case WH_I32: return "i32";
    case WH_U64: return "u64";
    case WH_U32: return "u32";
    case WH_ARRAY: return "a sequence";
    case WH_OBJECT: return "a map";
    default: return "any value";
    }
}

/** Whether `v` fits the parameter type `param`; if not, `*reason` is
 * serde's `invalid type: ..., expected ...` (or `invalid value`). */
static bool check_param(int param, const wh_json *v, wh_str *reason) {
    int base = param & 0xff;
    if (base == WH_ANY) return true;
    if ((param & WH_NULLABLE) && v->type == WH_JSON_NULL) return true;
    bool type_ok = false, value_ok = true;
    bool integer = v->type == WH_JSON_NUMBER && v->kind != WH_NUM_FLOAT;
    switch (base) {
    case WH_STRING: type_ok = v->type == WH_JSON_STRING; break;
    case WH_BOOL: type_ok = v->type == WH_JSON_BOOL; break;
    case WH_F64: type_ok = v->type == WH_JSON_NUMBER; break;
    case WH_ARRAY: type_ok = v->type == WH_JSON_ARRAY; break;
    case WH_OBJECT: type_ok = v->type == WH_JSON_OBJECT; break;
    case WH_I64:
        type_ok = integer;
        value_ok = v->has_i64;
        break;
    case WH_I32:
        type_ok = integer;
        value_ok = v->has_i64 && v->i64 >= INT32_MIN && v->i64 <= INT32_MAX;
        break;
    case WH_U64:
        type_ok = integer;
        value_ok = v->has_u64;
        break;
    case WH_U32:
        type_ok = integer;
        value_ok = v->has_u64 && v->u64 <= UINT32_MAX;
        break;
    default: return true;
    }
    if (type_ok && value_ok) return true;
    *reason = wh_strf("invalid %s: %s, expected %s", type_ok ? "value" : "type", unexpected(v).ptr, expected(base));
    return false;
}

/** The number of parameters a method declares. */
size_t wh__arity(const wh_method *m) {
    size_t n = 0;
    while (n < WH_MAX_PARAMS && m->params[n] != WH_END) n++;
    return n;
}

/** Parses `json` (the invocation's JSON array) and checks it against the
 * method's parameters, with ASP.NET Core's and serde's texts. */
wh_error wh__bind(const wh_method *m, wh_str json, wh_json ***args) {
    wh_str error;
    wh_json *values = wh_json_parse(json, &error);
    if (values == NULL) {
        return wh_err(WH_ERR_INVALID_ARGUMENT, "%s The arguments are not a JSON array: %s", WH_BINDING_ERROR,
                      error.ptr);
    }
    if (values->type != WH_JSON_ARRAY) {
        return wh_err(WH_ERR_INVALID_ARGUMENT,
                      "%s The arguments are not a JSON array: invalid type: %s, expected a sequence",
                      WH_BINDING_ERROR, unexpected(values).ptr);
    }
    size_t n = wh__arity(m);
    if (values->count != n) {
        return wh_err(WH_ERR_INVALID_ARGUMENT, "Invocation provides %zu argument(s) but target expects %zu.",
                      values->count, n);
    }
    for (size_t i = 0; i < n; i++) {
        wh_str reason;
        if (!check_param(m->params[i], values->items[i], &reason)) {
            return wh_err(WH_ERR_INVALID_ARGUMENT, "%s Argument %zu: %s", WH_BINDING_ERROR, i, reason.ptr);
        }
    }
    *args = values->items;
    return WH_OK;
}
