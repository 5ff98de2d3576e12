/*
 * wasmhub for C: JSON values (the `wh_json` DOM and its builders) and the
 * writer, which writes what serde_json writes, floats included, so that a
 * C hub's results are byte for byte a Rust hub's. The reader, which shares
 * the DOM's constructors, is json_parse.c.
 */
#include "wasmhub_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * JSON values
 */

wh_json *wh__new_value(wh_type type) {
    wh_json *v = wh_alloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

wh_json *wh_null(void) { return wh__new_value(WH_JSON_NULL); }

wh_json *wh_bool(bool value) {
    wh_json *v = wh__new_value(WH_JSON_BOOL);
    v->boolean = value;
    return v;
}

wh_json *wh_int(int64_t value) {
    if (value >= 0) return wh_uint((uint64_t)value);
    wh_json *v = wh__new_value(WH_JSON_NUMBER);
    v->kind = WH_NUM_INT;
    v->has_i64 = true;
    v->i64 = value;
    v->f64 = (double)value;
    v->str = wh_strf("%lld", (long long)value);
    return v;
}

wh_json *wh_uint(uint64_t value) {
    wh_json *v = wh__new_value(WH_JSON_NUMBER);
    v->kind = WH_NUM_UINT;
    v->has_u64 = true;
    v->u64 = value;
    v->has_i64 = value <= (uint64_t)INT64_MAX;
    v->i64 = v->has_i64 ? (int64_t)value : INT64_MAX;
    v->f64 = (double)value;
    v->str = wh_strf("%llu", (unsigned long long)value);
    return v;
}

wh_json *wh_double(double value) {
    wh_json *v = wh__new_value(WH_JSON_NUMBER);
    v->kind = WH_NUM_FLOAT;
    v->f64 = value;
    char text[40];
    size_t n = isfinite(value) ? wh__format_f64(value, text) : (memcpy(text, "null", 4), 4);
    v->str = wh__str_n(text, n);
    return v;
}

wh_json *wh_string(wh_str s) {
    if (s.ptr == NULL) return wh_null();
    wh_json *v = wh__new_value(WH_JSON_STRING);
    v->str = wh__str_n(s.ptr, s.len);
    return v;
}

wh_json *wh_cstring(const char *s) { return wh_string(wh_cstr(s)); }

wh_json *wh_array(void) { return wh__new_value(WH_JSON_ARRAY); }

wh_json *wh_object(void) { return wh__new_value(WH_JSON_OBJECT); }

/** Room for one more item (and key) in an array or object. */
void wh__grow(wh_json *v) {
    if (v->count < v->capacity) return;
    size_t capacity = v->capacity ? v->capacity * 2 : 4;
    wh_json **items = wh_alloc(capacity * sizeof *items);
    if (v->count) memcpy(items, v->items, v->count * sizeof *items);
    v->items = items;
    if (v->type == WH_JSON_OBJECT) {
        wh_str *keys = wh_alloc(capacity * sizeof *keys);
        if (v->count) memcpy(keys, v->keys, v->count * sizeof *keys);
        v->keys = keys;
    }
    v->capacity = capacity;
}

wh_json *wh_array_push(wh_json *array, wh_json *item) {
    if (array == NULL || array->type != WH_JSON_ARRAY) return array;
    wh__grow(array);
    array->items[array->count++] = item ? item : wh_null();
    return array;
}

wh_json *wh_list(size_t n, ...) {
    wh_json *array = wh_array();
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) wh_array_push(array, va_arg(ap, wh_json *));
    va_end(ap);
    return array;
}

wh_json *wh_object_set(wh_json *object, const char *key, wh_json *value) {
    if (object == NULL || object->type != WH_JSON_OBJECT || key == NULL) return object;
    wh_str k = wh_cstr(key);
    for (size_t i = 0; i < object->count; i++) {
        if (wh_str_eq(object->keys[i], k)) {
            object->items[i] = value ? value : wh_null();
            return object;
        }
    }
    wh__grow(object);
    object->keys[object->count] = wh__str_n(k.ptr, k.len);
    object->items[object->count++] = value ? value : wh_null();
    return object;
}

wh_json *wh_object_get(const wh_json *object, const char *key) {
    if (object == NULL || object->type != WH_JSON_OBJECT || key == NULL) return NULL;
    wh_str k = wh_cstr(key);
    for (size_t i = object->count; i-- > 0;) {
        if (wh_str_eq(object->keys[i], k)) return object->items[i];
    }
    return NULL;
}

wh_json *wh_array_slice(const wh_json *array, size_t from) {
    wh_json *slice = wh_array();
    if (array == NULL || array->type != WH_JSON_ARRAY || from >= array->count) return slice;
    slice->items = array->items + from;
    slice->count = array->count - from;
    slice->capacity = slice->count; /* a push copies before it writes */
    return slice;
}

/* ------------------------------------------------------------------------
 * Floats, as serde_json writes them (the zmij crate): the shortest digits
 * that read back, in fixed notation for decimal exponents -5..=15 (with a
 * `.0` on whole numbers), else `d.ddde±x`.
 */

size_t wh__format_f64(double value, char *out) {
    if (value == 0) {
        const char *zero = signbit(value) ? "-0.0" : "0.0";
        strcpy(out, zero);
        return strlen(zero);
    }
    char tmp[48];
    for (int precision = 0; precision < 17; precision++) {
        snprintf(tmp, sizeof tmp, "%.*e", precision, value);
        if (strtod(tmp, NULL) == value) break;
    }
    /* tmp is [-]d[.ddd]e±xx */
    const char *q = tmp;
    size_t o = 0;
    if (*q == '-') {
        out[o++] = '-';
        q++;
    }
    char digits[24];
    int n = 0;
    while (*q && *q != 'e') {
        if (*q != '.') digits[n++] = *q;
        q++;
    }
    int e = *q == 'e' ? atoi(q + 1) : 0;
    while (n > 1 && digits[n - 1] == '0') n--;
    if (e >= -5 && e <= 15) {
        if (n - 1 <= e) {
            memcpy(out + o, digits, (size_t)n);
            o += (size_t)n;
            for (int i = n; i <= e; i++) out[o++] = '0';
            out[o++] = '.';
            out[o++] = '0';
        } else if (e >= 0) {
            memcpy(out + o, digits, (size_t)e + 1);
            o += (size_t)e + 1;
            out[o++] = '.';
            memcpy(out + o, digits + e + 1, (size_t)(n - e - 1));
            o += (size_t)(n - e - 1);
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -e - 1; i++) out[o++] = '0';
            memcpy(out + o, digits, (size_t)n);
            o += (size_t)n;
        }
    } else {
        out[o++] = digits[0];
        if (n > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)n - 1);
            o += (size_t)n - 1;
        }
        o += (size_t)sprintf(out + o, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    out[o] = '\0';
    return o;
}

/* ------------------------------------------------------------------------
 * The JSON writer: a counting pass, then a writing pass into exactly that
 * much of the arena.
 */

typedef struct writer {
    char *out; /* NULL: count only */
    size_t len;
} writer;

static void w_bytes(writer *w, const char *s, size_t n) {
    if (w->out && n) memcpy(w->out + w->len, s, n);
    w->len += n;
}

static void w_string(writer *w, wh_str s) {
    static const char hex[] = "0123456789abcdef";
    w_bytes(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        const char *escape = NULL;
        char u[6];
        if (c == '"') escape = "\\\"";
        else if (c == '\\') escape = "\\\\";
        else if (c < 0x20) {
            switch (c) {
            case '\b': escape = "\\b"; break;
            case '\t': escape = "\\t"; break;
            case '\n': escape = "\\n"; break;
            case '\f': escape = "\\f"; break;
            case '\r': escape = "\\r"; break;
            default:
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
                break;
            }
        } else {
            continue;
        }
        w_bytes(w, s.ptr + run, i - run);
        if (escape) w_bytes(w, escape, strlen(escape));
        else w_bytes(w, u, 6);
        run = i + 1;
    }
    w_bytes(w, s.ptr + run, s.len - run);
    w_bytes(w, "\"", 1);
}

static void w_value(writer *w, const wh_json *v) {
    if (v == NULL) {
        w_bytes(w, "null", 4);
        return;
    }
    switch (v->type) {
    case WH_JSON_NULL: w_bytes(w, "null", 4); break;
    case WH_JSON_BOOL: v->boolean ? w_bytes(w, "true", 4) : w_bytes(w, "false", 5); break;
    case WH_JSON_NUMBER: {
        char text[48];
        int n;
        if (v->kind == WH_NUM_UINT) n = snprintf(text, sizeof text, "%llu", (unsigned long long)v->u64);
        else if (v->kind == WH_NUM_INT) n = snprintf(text, sizeof text, "%lld", (long long)v->i64);
        else if (!isfinite(v->f64)) n = snprintf(text, sizeof text, "null");
        else n = (int)wh__format_f64(v->f64, text);
        w_bytes(w, text, (size_t)n);
        break;
    }
    case WH_JSON_STRING: w_string(w, v->str); break;
    case WH_JSON_ARRAY:
        w_bytes(w, "[", 1);
        for (size_t i = 0; i < v->count; i++) {
            if (i) w_bytes(w, ",", 1);
            w_value(w, v->items[i]);
        }
        w_bytes(w, "]", 1);
        break;
    case WH_JSON_OBJECT:
        w_bytes(w, "{", 1);
        for (size_t i = 0; i < v->count; i++) {
            if (i) w_bytes(w, ",", 1);
            w_string(w, v->keys[i]);
            w_bytes(w, ":", 1);
            w_value(w, v->items[i]);
        }
        w_bytes(w, "}", 1);
        break;
    }
}

wh_str wh_json_encode(const wh_json *value) {
    writer count = {NULL, 0};
    w_value(&count, value);
    writer w = {wh_alloc(count.len + 1), 0};
    w_value(&w, value);
    w.out[w.len] = '\0';
    return (wh_str){w.out, w.len};
}
