/*
 * wasmhub for C: the SDK's implementation (see wasmhub.h for the API).
 *
 * - The per-call arena: every allocation the SDK makes for a call, freed
 *   in one go when the export returns.
 * - JSON: a reader (a DOM, strict RFC 8259, bounded depth) and a writer
 *   that writes what serde_json writes.
 * - Argument binding with serde's and ASP.NET Core's error texts.
 * - The five `handler` exports, and wrappers of every import.
 *
 * Ownership at the boundary (wit-bindgen's C ABI): the arguments of an
 * export belong to the export (freed here with the generated `*_free`),
 * what an export returns is freed by the generated post-return function
 * (so it is malloc'd: `hub_string_dup_n`), the arguments of an import are
 * borrowed, and what an import returns belongs to us (copied into the
 * arena, then freed).
 */
#include "wasmhub.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * The per-call arena
 */

/** One block of the arena. */
typedef struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} chunk;

/** The size of a regular block; larger allocations get a block of their own. */
#define CHUNK_SIZE (64u * 1024u)

/** The block being filled (the newest), the head of the list of blocks. */
static chunk *arena;

void *wh_alloc(size_t size) {
    if (size > SIZE_MAX / 2) abort(); /* no such memory: a trap, as Rust's */
    size = (size + 15u) & ~(size_t)15u;
    if (size == 0) size = 16;
    if (arena == NULL || arena->size - arena->used < size) {
        size_t capacity = size > CHUNK_SIZE ? size : CHUNK_SIZE;
        chunk *block = malloc(sizeof(chunk) + capacity);
        if (block == NULL) abort(); /* out of memory: a trap, as Rust's */
        block->size = capacity;
        block->used = 0;
        block->next = arena;
        arena = block;
    }
    void *p = arena->data + arena->used;
    arena->used += size;
    return p;
}

/** Frees everything the call allocated; keeps one regular block for the
 * next call (so a typical call does not touch malloc at all). */
static void arena_reset(void) {
    chunk *keep = NULL;
    while (arena != NULL) {
        chunk *next = arena->next;
        if (keep == NULL && arena->size == CHUNK_SIZE) {
            keep = arena;
        } else {
            free(arena);
        }
        arena = next;
    }
    if (keep != NULL) {
        keep->used = 0;
        keep->next = NULL;
    }
    arena = keep;
}

/* ------------------------------------------------------------------------
 * Strings
 */

/** `len` bytes of `p` as a NUL-terminated arena string. */
static wh_str str_n(const void *p, size_t len) {
    char *copy = wh_alloc(len + 1);
    if (len > 0) memcpy(copy, p, len);
    copy[len] = '\0';
    return (wh_str){copy, len};
}

wh_str wh_cstr(const char *s) {
    if (s == NULL) return WH_NONE;
    return (wh_str){s, strlen(s)};
}

bool wh_str_eq(wh_str a, wh_str b) {
    if (a.ptr == NULL || b.ptr == NULL) return a.ptr == b.ptr;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int wh_str_cmp(wh_str a, wh_str b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

static int compare_strs(const void *a, const void *b) {
    return wh_str_cmp(*(const wh_str *)a, *(const wh_str *)b);
}

void wh_str_sort(wh_str *items, size_t n) {
    if (n > 1) qsort(items, n, sizeof *items, compare_strs);
}

size_t wh_str_sort_unique(wh_str *items, size_t n) {
    wh_str_sort(items, n);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept == 0 || !wh_str_eq(items[kept - 1], items[i])) items[kept++] = items[i];
    }
    return kept;
}

wh_str wh_str_copy(wh_str s) {
    if (s.ptr == NULL) return WH_NONE;
    return str_n(s.ptr, s.len);
}

wh_str wh_str_cat(wh_str a, wh_str b) {
    char *p = wh_alloc(a.len + b.len + 1);
    if (a.len) memcpy(p, a.ptr, a.len);
    if (b.len) memcpy(p + a.len, b.ptr, b.len);
    p[a.len + b.len] = '\0';
    return (wh_str){p, a.len + b.len};
}

wh_str wh_concat(size_t n, ...) {
    va_list ap;
    size_t len = 0;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) len += va_arg(ap, wh_str).len;
    va_end(ap);
    char *p = wh_alloc(len + 1);
    size_t o = 0;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        wh_str s = va_arg(ap, wh_str);
        if (s.len) memcpy(p + o, s.ptr, s.len);
        o += s.len;
    }
    va_end(ap);
    p[o] = '\0';
    return (wh_str){p, o};
}

static wh_str vstrf(const char *format, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, format, ap);
    if (n < 0) n = 0;
    char *p = wh_alloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, format, again);
    va_end(again);
    return (wh_str){p, (size_t)n};
}

wh_str wh_strf(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    wh_str s = vstrf(format, ap);
    va_end(ap);
    return s;
}

/** Unicode White_Space, what Rust's `char::is_whitespace` (and so
 * `str::trim`) tests. */
static bool is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

/** The code point at `p` (valid UTF-8 assumed, as WIT strings are) and its
 * length in bytes. */
static uint32_t utf8_at(const unsigned char *p, size_t avail, size_t *len) {
    unsigned char b = p[0];
    size_t n = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    if (n > avail) n = avail;
    uint32_t c = n == 1 ? b : n == 2 ? (b & 0x1fu) : n == 3 ? (b & 0x0fu) : (b & 0x07u);
    for (size_t i = 1; i < n; i++) c = (c << 6) | (p[i] & 0x3fu);
    *len = n;
    return c;
}

wh_str wh_trim(wh_str s) {
    if (s.ptr == NULL) return s;
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t start = 0, end = s.len, n;
    while (start < end && is_white_space(utf8_at(p + start, end - start, &n))) start += n;
    while (end > start) {
        size_t last = end - 1;
        while (last > start && (p[last] & 0xc0) == 0x80) last--;
        if (!is_white_space(utf8_at(p + last, end - last, &n))) break;
        end = last;
    }
    return str_n(p + start, end - start);
}

/** Appends the UTF-8 of `c` at `out`; returns the bytes written. */
static size_t utf8_put(char *out, uint32_t c) {
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/** The UTF-8 sequence at `p[i..len)`, read as Rust's `str::from_utf8`
 * does: 0 when it is valid (`*n` its length), 1 when it is not (`*n` the
 * length of its maximal invalid prefix, 1 to 3: Rust's `error_len`), 2
 * when the input ends inside it (Rust's `error_len` None). */
static int utf8_next(const unsigned char *p, size_t len, size_t i, size_t *n) {
    unsigned char b = p[i];
    if (b < 0x80) {
        *n = 1;
        return 0;
    }
    size_t need = 0;
    unsigned lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b == 0xe0) need = 2, lo = 0xa0;
    else if (b >= 0xe1 && b <= 0xec) need = 2;
    else if (b == 0xed) need = 2, hi = 0x9f;
    else if (b >= 0xee && b <= 0xef) need = 2;
    else if (b == 0xf0) need = 3, lo = 0x90;
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else if (b == 0xf4) need = 3, hi = 0x8f;
    if (need == 0) {
        *n = 1;
        return 1;
    }
    for (size_t k = 1; k <= need; k++) {
        if (i + k >= len) {
            *n = k;
            return 2;
        }
        unsigned next = p[i + k];
        if (next < (k == 1 ? lo : 0x80) || next > (k == 1 ? hi : 0xbf)) {
            *n = k;
            return 1;
        }
    }
    *n = need + 1;
    return 0;
}

wh_str wh_utf8_lossy(wh_str bytes) {
    /* At most 3 bytes (U+FFFD) for every input byte. */
    char *out = wh_alloc(bytes.len * 3 + 1);
    size_t o = 0, n;
    const unsigned char *p = (const unsigned char *)bytes.ptr;
    for (size_t i = 0; i < bytes.len; i += n) {
        if (utf8_next(p, bytes.len, i, &n) == 0) {
            memcpy(out + o, p + i, n);
            o += n;
        } else {
            o += utf8_put(out + o, 0xfffd); /* one for each maximal invalid prefix */
        }
    }
    out[o] = '\0';
    return (wh_str){out, o};
}

/** Whether `bytes` is UTF-8; if not, `*why` is Rust's `Utf8Error` text. */
static bool utf8_valid(wh_str bytes, wh_str *why) {
    const unsigned char *p = (const unsigned char *)bytes.ptr;
    size_t n;
    for (size_t i = 0; i < bytes.len; i += n) {
        int r = utf8_next(p, bytes.len, i, &n);
        if (r == 1) {
            *why = wh_strf("invalid utf-8 sequence of %zu bytes from index %zu", n, i);
            return false;
        }
        if (r == 2) {
            *why = wh_strf("incomplete utf-8 byte sequence from index %zu", i);
            return false;
        }
    }
    return true;
}

/** Whether `a` and the NUL-terminated `b` are equal ignoring ASCII case. */
static bool ascii_eq_fold(wh_str a, const char *b) {
    size_t n = strlen(b);
    if (a.len != n) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return false;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Errors
 */

wh_error wh_err_str(wh_kind kind, wh_str message) {
    /* Copied: the message may be in the handler's own (stack) memory. */
    return (wh_error){kind, message.ptr ? str_n(message.ptr, message.len) : WH_S("")};
}

wh_error wh_err(wh_kind kind, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    wh_str message = vstrf(format, ap);
    va_end(ap);
    return (wh_error){kind, message};
}

const char *wh_kind_name(wh_kind kind) {
    switch (kind) {
    case WH_ERR_NONE: return "Ok";
    case WH_ERR_METHOD_NOT_FOUND: return "MethodNotFound";
    case WH_ERR_INVALID_ARGUMENT: return "InvalidArgument";
    case WH_ERR_UNAUTHORIZED: return "Unauthorized";
    case WH_ERR_NOT_FOUND: return "NotFound";
    case WH_ERR_TIMEOUT: return "Timeout";
    case WH_ERR_NO_CLIENT_RESPONDED: return "NoClientResponded";
    case WH_ERR_UNAVAILABLE: return "Unavailable";
    case WH_ERR_INTERNAL: return "Internal";
    case WH_ERR_WRONG_INVOCATION: return "WrongInvocation";
    }
    return "Internal";
}

wh_str wh_error_text(wh_error error) {
    return wh_str_cat(wh_str_cat(wh_cstr(wh_kind_name(error.kind)), WH_S(": ")), error.message);
}

/** A WIT hub-error an import returned, as ours; frees the WIT one. */
static wh_error from_wit_error(wasmhub_hub_types_hub_error_t *e) {
    wh_kind kind = e->tag <= WASMHUB_HUB_TYPES_HUB_ERROR_WRONG_INVOCATION ? (wh_kind)(e->tag + 1) : WH_ERR_INTERNAL;
    /* Every case carries a string at the same place. */
    wh_str message = str_n(e->val.internal.ptr, e->val.internal.len);
    wasmhub_hub_types_hub_error_free(e);
    return (wh_error){kind, message};
}

/** Our error as the WIT value an export returns (its string malloc'd: the
 * post-return function frees it). */
static void to_wit_error(wh_error error, wasmhub_hub_types_hub_error_t *out) {
    wh_kind kind = error.kind;
    if (kind < WH_ERR_METHOD_NOT_FOUND || kind > WH_ERR_WRONG_INVOCATION) kind = WH_ERR_INTERNAL;
    out->tag = (uint8_t)(kind - 1);
    hub_string_dup_n(&out->val.internal, error.message.ptr ? error.message.ptr : "", error.message.len);
}

/* ------------------------------------------------------------------------
 * JSON values
 */

static wh_json *new_value(wh_type type) {
    wh_json *v = wh_alloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

wh_json *wh_null(void) { return new_value(WH_JSON_NULL); }

wh_json *wh_bool(bool value) {
    wh_json *v = new_value(WH_JSON_BOOL);
    v->boolean = value;
    return v;
}

wh_json *wh_int(int64_t value) {
    if (value >= 0) return wh_uint((uint64_t)value);
    wh_json *v = new_value(WH_JSON_NUMBER);
    v->kind = WH_NUM_INT;
    v->has_i64 = true;
    v->i64 = value;
    v->f64 = (double)value;
    v->str = wh_strf("%lld", (long long)value);
    return v;
}

wh_json *wh_uint(uint64_t value) {
    wh_json *v = new_value(WH_JSON_NUMBER);
    v->kind = WH_NUM_UINT;
    v->has_u64 = true;
    v->u64 = value;
    v->has_i64 = value <= (uint64_t)INT64_MAX;
    v->i64 = v->has_i64 ? (int64_t)value : INT64_MAX;
    v->f64 = (double)value;
    v->str = wh_strf("%llu", (unsigned long long)value);
    return v;
}

static size_t format_f64(double value, char *out);

wh_json *wh_double(double value) {
    wh_json *v = new_value(WH_JSON_NUMBER);
    v->kind = WH_NUM_FLOAT;
    v->f64 = value;
    char text[40];
    size_t n = isfinite(value) ? format_f64(value, text) : (memcpy(text, "null", 4), 4);
    v->str = str_n(text, n);
    return v;
}

wh_json *wh_string(wh_str s) {
    if (s.ptr == NULL) return wh_null();
    wh_json *v = new_value(WH_JSON_STRING);
    v->str = str_n(s.ptr, s.len);
    return v;
}

wh_json *wh_cstring(const char *s) { return wh_string(wh_cstr(s)); }

wh_json *wh_array(void) { return new_value(WH_JSON_ARRAY); }

wh_json *wh_object(void) { return new_value(WH_JSON_OBJECT); }

/** Room for one more item (and key) in an array or object. */
static void grow(wh_json *v) {
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
    grow(array);
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
    grow(object);
    object->keys[object->count] = str_n(k.ptr, k.len);
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

static size_t format_f64(double value, char *out) {
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
 * The JSON reader
 */

typedef struct parser {
    const char *start, *p, *end;
    const char *error; /* set on the first failure */
    int depth;
} parser;

static wh_json *parse_value(parser *ps);

static wh_json *fail(parser *ps, const char *error) {
    if (ps->error == NULL) ps->error = error;
    return NULL;
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/** Four hex digits after `\u`; -1 when they are not. */
static int32_t hex4(parser *ps) {
    if (ps->end - ps->p < 4) {
        fail(ps, "EOF while parsing a string");
        return -1;
    }
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(ps->p[i]);
        if (d < 0) {
            fail(ps, "invalid escape");
            return -1;
        }
        v = v * 16 + d;
    }
    ps->p += 4;
    return v;
}

/** A string, `ps->p` at its opening quote. */
static bool parse_string(parser *ps, wh_str *out) {
    ps->p++;
    /* Its raw length bounds its decoded length. */
    const char *scan = ps->p;
    while (scan < ps->end && *scan != '"') scan += *scan == '\\' ? 2 : 1;
    if (scan >= ps->end) {
        fail(ps, "EOF while parsing a string");
        return false;
    }
    char *buf = wh_alloc((size_t)(scan - ps->p) + 1);
    size_t o = 0;
    for (;;) {
        if (ps->p >= ps->end) {
            fail(ps, "EOF while parsing a string");
            return false;
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            fail(ps, "control character (\\u0000-\\u001F) found while parsing a string");
            return false;
        }
        if (c != '\\') {
            buf[o++] = (char)c;
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            fail(ps, "EOF while parsing a string");
            return false;
        }
        char e = *ps->p++;
        switch (e) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            int32_t c1 = hex4(ps);
            if (c1 < 0) return false;
            uint32_t code = (uint32_t)c1;
            if (c1 >= 0xdc00 && c1 <= 0xdfff) {
                fail(ps, "lone leading surrogate in hex escape");
                return false;
            }
            if (c1 >= 0xd800 && c1 <= 0xdbff) {
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                    fail(ps, "unexpected end of hex escape");
                    return false;
                }
                ps->p += 2;
                int32_t c2 = hex4(ps);
                if (c2 < 0) return false;
                if (c2 < 0xdc00 || c2 > 0xdfff) {
                    fail(ps, "lone leading surrogate in hex escape");
                    return false;
                }
                code = 0x10000 + (((uint32_t)c1 - 0xd800) << 10) + ((uint32_t)c2 - 0xdc00);
            }
            /* \uXXXX is 6 bytes, its UTF-8 at most 3; a pair 12 and 4. */
            o += utf8_put(buf + o, code);
            break;
        }
        default: fail(ps, "invalid escape"); return false;
        }
    }
    buf[o] = '\0';
    *out = (wh_str){buf, o};
    return true;
}

/* Numbers are read as serde_json reads them (without its `float_roundtrip`
 * feature, as the Rust SDK builds it): a u64 significand and a decimal
 * exponent, digits past 19 or so dropped, then one multiplication or
 * division by a power of ten. That is not always the closest double (it
 * may be one off in the last place for long literals), but it is the
 * double the Rust hubs see, and so what a C hub must see to agree. */

/** serde_json's powers of ten, 1e0 to 1e308. */
static const double POW10[309] = {
    1e000, 1e001, 1e002, 1e003, 1e004, 1e005, 1e006, 1e007, 1e008, 1e009,
    1e010, 1e011, 1e012, 1e013, 1e014, 1e015, 1e016, 1e017, 1e018, 1e019,
    1e020, 1e021, 1e022, 1e023, 1e024, 1e025, 1e026, 1e027, 1e028, 1e029,
    1e030, 1e031, 1e032, 1e033, 1e034, 1e035, 1e036, 1e037, 1e038, 1e039,
    1e040, 1e041, 1e042, 1e043, 1e044, 1e045, 1e046, 1e047, 1e048, 1e049,
    1e050, 1e051, 1e052, 1e053, 1e054, 1e055, 1e056, 1e057, 1e058, 1e059,
    1e060, 1e061, 1e062, 1e063, 1e064, 1e065, 1e066, 1e067, 1e068, 1e069,
    1e070, 1e071, 1e072, 1e073, 1e074, 1e075, 1e076, 1e077, 1e078, 1e079,
    1e080, 1e081, 1e082, 1e083, 1e084, 1e085, 1e086, 1e087, 1e088, 1e089,
    1e090, 1e091, 1e092, 1e093, 1e094, 1e095, 1e096, 1e097, 1e098, 1e099,
    1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109,
    1e110, 1e111, 1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119,
    1e120, 1e121, 1e122, 1e123, 1e124, 1e125, 1e126, 1e127, 1e128, 1e129,
    1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136, 1e137, 1e138, 1e139,
    1e140, 1e141, 1e142, 1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149,
    1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159,
    1e160, 1e161, 1e162, 1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169,
    1e170, 1e171, 1e172, 1e173, 1e174, 1e175, 1e176, 1e177, 1e178, 1e179,
    1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188, 1e189,
    1e190, 1e191, 1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199,
    1e200, 1e201, 1e202, 1e203, 1e204, 1e205, 1e206, 1e207, 1e208, 1e209,
    1e210, 1e211, 1e212, 1e213, 1e214, 1e215, 1e216, 1e217, 1e218, 1e219,
    1e220, 1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227, 1e228, 1e229,
    1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239,
    1e240, 1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249,
    1e250, 1e251, 1e252, 1e253, 1e254, 1e255, 1e256, 1e257, 1e258, 1e259,
    1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266, 1e267, 1e268, 1e269,
    1e270, 1e271, 1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
    1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287, 1e288, 1e289,
    1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299,
    1e300, 1e301, 1e302, 1e303, 1e304, 1e305, 1e306, 1e307, 1e308,
};

/** serde_json's `overflow!(a * 10 + b, max)`. */
#define OVERFLOWS(a, b, max) ((a) >= (max) / 10 && ((a) > (max) / 10 || (b) > (max) % 10))

/** serde_json's `f64_from_parts`; false when out of range. */
static bool f64_from_parts(parser *ps, bool positive, uint64_t significand, int32_t exponent, double *out) {
    double f = (double)significand;
    for (;;) {
        uint32_t index = exponent < 0 ? (uint32_t)0 - (uint32_t)exponent : (uint32_t)exponent;
        if (index <= 308) {
            if (exponent >= 0) {
                f *= POW10[index];
                if (isinf(f)) return fail(ps, "number out of range"), false;
            } else {
                f /= POW10[index];
            }
            break;
        }
        if (f == 0.0) break;
        if (exponent >= 0) return fail(ps, "number out of range"), false;
        f /= 1e308;
        exponent += 308;
    }
    *out = positive ? f : -f;
    return true;
}

/** serde_json's `parse_exponent`, `ps->p` at the `e`. */
static bool parse_exponent(parser *ps, bool positive, uint64_t significand, int32_t starting, double *out) {
    ps->p++;
    bool positive_exp = true;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) positive_exp = *ps->p++ == '+';
    if (ps->p >= ps->end) return fail(ps, "EOF while parsing a value"), false;
    if (!is_digit(*ps->p)) return fail(ps, "invalid number"), false;
    int32_t exp = *ps->p++ - '0';
    while (ps->p < ps->end && is_digit(*ps->p)) {
        int32_t digit = *ps->p++ - '0';
        if (OVERFLOWS(exp, digit, INT32_MAX)) {
            /* serde_json's parse_exponent_overflow */
            if (significand != 0 && positive_exp) return fail(ps, "number out of range"), false;
            while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
            *out = positive ? 0.0 : -0.0;
            return true;
        }
        exp = exp * 10 + digit;
    }
    int64_t final = positive_exp ? (int64_t)starting + exp : (int64_t)starting - exp;
    if (final > INT32_MAX) final = INT32_MAX;
    if (final < INT32_MIN) final = INT32_MIN;
    return f64_from_parts(ps, positive, significand, (int32_t)final, out);
}

/** serde_json's `parse_decimal`, `ps->p` at the `.`. */
static bool parse_decimal(parser *ps, bool positive, uint64_t significand, int32_t before, double *out) {
    ps->p++;
    int32_t after = 0;
    while (ps->p < ps->end && is_digit(*ps->p)) {
        uint64_t digit = (uint64_t)(*ps->p - '0');
        if (OVERFLOWS(significand, digit, UINT64_MAX)) {
            /* serde_json's parse_decimal_overflow: the rest is ignored. */
            while (ps->p < ps->end && is_digit(*ps->p)) ps->p++;
            if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
                return parse_exponent(ps, positive, significand, before + after, out);
            }
            return f64_from_parts(ps, positive, significand, before + after, out);
        }
        ps->p++;
        significand = significand * 10 + digit;
        after--;
    }
    if (after == 0) return fail(ps, ps->p < ps->end ? "invalid number" : "EOF while parsing a value"), false;
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        return parse_exponent(ps, positive, significand, before + after, out);
    }
    return f64_from_parts(ps, positive, significand, before + after, out);
}

static wh_json *parse_number(parser *ps) {
    const char *start = ps->p;
    bool positive = true;
    if (*ps->p == '-') {
        positive = false;
        ps->p++;
    }
    if (ps->p >= ps->end) return fail(ps, "EOF while parsing a value");
    wh_json *v = new_value(WH_JSON_NUMBER);
    v->kind = WH_NUM_FLOAT;
    uint64_t significand = 0;
    bool ok = true, integer = false;
    if (*ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && is_digit(*ps->p)) return fail(ps, "invalid number");
    } else if (is_digit(*ps->p)) {
        significand = (uint64_t)(*ps->p++ - '0');
        int32_t dropped = -1; /* >= 0: serde_json's parse_long_integer */
        while (ps->p < ps->end && is_digit(*ps->p)) {
            uint64_t digit = (uint64_t)(*ps->p - '0');
            if (dropped < 0 && OVERFLOWS(significand, digit, UINT64_MAX)) dropped = 0;
            ps->p++;
            if (dropped >= 0) dropped++;
            else significand = significand * 10 + digit;
        }
        if (dropped >= 0) {
            if (ps->p < ps->end && *ps->p == '.') ok = parse_decimal(ps, positive, significand, dropped, &v->f64);
            else if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E'))
                ok = parse_exponent(ps, positive, significand, dropped, &v->f64);
            else ok = f64_from_parts(ps, positive, significand, dropped, &v->f64);
            goto done;
        }
    } else {
        return fail(ps, "invalid number");
    }
    /* serde_json's parse_number */
    if (ps->p < ps->end && *ps->p == '.') {
        ok = parse_decimal(ps, positive, significand, 0, &v->f64);
    } else if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ok = parse_exponent(ps, positive, significand, 0, &v->f64);
    } else {
        integer = true;
    }
done:
    if (!ok) return NULL;
    v->str = str_n(start, (size_t)(ps->p - start));
    if (integer && positive) {
        v->kind = WH_NUM_UINT;
        v->has_u64 = true;
        v->u64 = significand;
        v->has_i64 = significand <= (uint64_t)INT64_MAX;
        v->i64 = v->has_i64 ? (int64_t)significand : INT64_MAX;
        v->f64 = (double)significand;
    } else if (integer) {
        /* Negative: an i64, except -0 and below i64::MIN, which are floats. */
        if (significand != 0 && significand <= (uint64_t)INT64_MAX + 1) {
            v->kind = WH_NUM_INT;
            v->has_i64 = true;
            v->i64 = -(int64_t)(significand - 1) - 1;
            v->f64 = (double)v->i64;
        } else {
            v->f64 = -(double)significand;
        }
    }
    return v;
}

/** Sorts an object's members by key, the last of equal keys kept (a
 * stable sort, then a pass): serde_json's `Value::Object`. */
static void normalize_object(wh_json *object) {
    size_t n = object->count;
    for (size_t i = 1; i < n; i++) {
        /* Insertion sort, but binary-searched: stable, and objects are small. */
        wh_str key = object->keys[i];
        wh_json *item = object->items[i];
        size_t lo = 0, hi = i;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (wh_str_cmp(object->keys[mid], key) <= 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo < i) {
            memmove(object->keys + lo + 1, object->keys + lo, (i - lo) * sizeof *object->keys);
            memmove(object->items + lo + 1, object->items + lo, (i - lo) * sizeof *object->items);
            object->keys[lo] = key;
            object->items[lo] = item;
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && wh_str_eq(object->keys[kept - 1], object->keys[i])) {
            object->items[kept - 1] = object->items[i]; /* the later one wins */
        } else {
            object->keys[kept] = object->keys[i];
            object->items[kept] = object->items[i];
            kept++;
        }
    }
    object->count = kept;
}

static wh_json *parse_container(parser *ps, bool object) {
    if (++ps->depth > WH_JSON_MAX_DEPTH) return fail(ps, "recursion limit exceeded");
    ps->p++;
    wh_json *v = object ? wh_object() : wh_array();
    char close = object ? '}' : ']';
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        wh_str key = WH_NONE;
        if (object) {
            skip_ws(ps);
            if (ps->p >= ps->end) return fail(ps, "EOF while parsing an object");
            if (*ps->p != '"') return fail(ps, "key must be a string");
            if (!parse_string(ps, &key)) return NULL;
            skip_ws(ps);
            if (ps->p >= ps->end) return fail(ps, "EOF while parsing an object");
            if (*ps->p != ':') return fail(ps, "expected `:`");
            ps->p++;
        }
        wh_json *item = parse_value(ps);
        if (item == NULL) return NULL;
        grow(v);
        if (object) v->keys[v->count] = key;
        v->items[v->count++] = item;
        skip_ws(ps);
        if (ps->p >= ps->end) return fail(ps, object ? "EOF while parsing an object" : "EOF while parsing a list");
        if (*ps->p == ',') {
            ps->p++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == close) return fail(ps, "trailing comma");
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        return fail(ps, object ? "expected `,` or `}`" : "expected `,` or `]`");
    }
    if (object) normalize_object(v);
    ps->depth--;
    return v;
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail(ps, (size_t)(ps->end - ps->p) < n ? "EOF while parsing a value" : "expected ident");
        return false;
    }
    ps->p += n;
    return true;
}

static wh_json *parse_value(parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "EOF while parsing a value");
    switch (*ps->p) {
    case 'n': return literal(ps, "null") ? wh_null() : NULL;
    case 't': return literal(ps, "true") ? wh_bool(true) : NULL;
    case 'f': return literal(ps, "false") ? wh_bool(false) : NULL;
    case '"': {
        wh_json *v = new_value(WH_JSON_STRING);
        return parse_string(ps, &v->str) ? v : NULL;
    }
    case '[': return parse_container(ps, false);
    case '{': return parse_container(ps, true);
    default:
        if (*ps->p == '-' || is_digit(*ps->p)) return parse_number(ps);
        return fail(ps, "expected value");
    }
}

wh_json *wh_json_parse(wh_str text, wh_str *error) {
    parser ps = {text.ptr ? text.ptr : "", text.ptr ? text.ptr : "", (text.ptr ? text.ptr : "") + text.len, NULL, 0};
    wh_json *v = parse_value(&ps);
    if (v != NULL) {
        skip_ws(&ps);
        if (ps.p < ps.end) v = fail(&ps, "trailing characters");
    }
    if (v == NULL && error != NULL) {
        /* Where, as serde_json says it: 1-based line, column of the byte. */
        size_t line = 1, column = 0;
        const char *at = ps.p < ps.end ? ps.p + 1 : ps.end;
        for (const char *c = ps.start; c < at; c++) {
            if (*c == '\n') {
                line++;
                column = 0;
            } else {
                column++;
            }
        }
        *error = wh_strf("%s at line %zu column %zu", ps.error ? ps.error : "invalid JSON", line, column);
    }
    return v;
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
        else n = (int)format_f64(v->f64, text);
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
        uint32_t c = utf8_at(p + i, s.len - i, &n);
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
            format_f64(v->f64, text);
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
static size_t arity(const wh_method *m) {
    size_t n = 0;
    while (n < WH_MAX_PARAMS && m->params[n] != WH_END) n++;
    return n;
}

/** Parses `json` (the invocation's JSON array) and checks it against the
 * method's parameters, with ASP.NET Core's and serde's texts. */
static wh_error bind(const wh_method *m, wh_str json, wh_json ***args) {
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
    size_t n = arity(m);
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

/* ------------------------------------------------------------------------
 * From the WIT types to ours (copies in the arena)
 */

static wh_str from_wit(const hub_string_t *s) { return str_n(s->ptr, s->len); }

static wh_str from_wit_option(const hub_option_string_t *s) {
    return s->is_some ? from_wit(&s->val) : WH_NONE;
}

/** A borrowed view of our string for an import. */
static hub_string_t to_wit(wh_str s) { return (hub_string_t){(uint8_t *)(s.ptr ? s.ptr : ""), s.len}; }

static hub_option_string_t to_wit_option(wh_str s) {
    hub_option_string_t o;
    o.is_some = s.ptr != NULL;
    o.val = to_wit(s);
    return o;
}

static const wh_str *from_wit_list(const hub_list_string_t *list) {
    wh_str *items = wh_alloc((list->len ? list->len : 1) * sizeof *items);
    for (size_t i = 0; i < list->len; i++) items[i] = from_wit(&list->ptr[i]);
    return items;
}

static const wh_pair *from_wit_pairs(const hub_list_tuple2_string_string_t *list) {
    wh_pair *items = wh_alloc((list->len ? list->len : 1) * sizeof *items);
    for (size_t i = 0; i < list->len; i++) {
        items[i].name = from_wit(&list->ptr[i].f0);
        items[i].value = from_wit(&list->ptr[i].f1);
    }
    return items;
}

static const wh_attribute *from_wit_attributes(const hub_list_tuple2_string_list_string_t *list) {
    wh_attribute *items = wh_alloc((list->len ? list->len : 1) * sizeof *items);
    for (size_t i = 0; i < list->len; i++) {
        items[i].key = from_wit(&list->ptr[i].f0);
        items[i].values = from_wit_list(&list->ptr[i].f1);
        items[i].count = list->ptr[i].f1.len;
    }
    return items;
}

static wh_connection *from_wit_connection(const wasmhub_hub_types_connection_t *c) {
    wh_connection *conn = wh_alloc(sizeof *conn);
    conn->id = from_wit(&c->id);
    conn->user = from_wit_option(&c->user);
    conn->hub = from_wit(&c->hub);
    conn->node = from_wit(&c->node);
    conn->transport = from_wit(&c->transport);
    conn->groups = from_wit_list(&c->groups);
    conn->group_count = c->groups.len;
    conn->attributes = from_wit_attributes(&c->attributes);
    conn->attribute_count = c->attributes.len;
    conn->query = from_wit_pairs(&c->query);
    conn->query_count = c->query.len;
    conn->headers = from_wit_pairs(&c->headers);
    conn->header_count = c->headers.len;
    return conn;
}

static void from_wit_info(const wasmhub_hub_types_connection_info_t *c, wh_connection *conn) {
    memset(conn, 0, sizeof *conn);
    conn->id = from_wit(&c->id);
    conn->user = from_wit_option(&c->user);
    conn->hub = WH_S("");
    conn->node = from_wit(&c->node);
    conn->transport = WH_S("");
    conn->groups = from_wit_list(&c->groups);
    conn->group_count = c->groups.len;
    conn->attributes = from_wit_attributes(&c->attributes);
    conn->attribute_count = c->attributes.len;
    conn->query = conn->headers = wh_alloc(sizeof(wh_pair));
}

/* ------------------------------------------------------------------------
 * The context
 */

/** The id of the connection whose call is running, for wh_to_caller();
 * `in_call` is false between calls. */
static wh_str current_caller;
static bool in_call;

const wh_connection *wh_details(wh_ctx *ctx) {
    if (ctx->details != NULL) return ctx->details;
    wasmhub_hub_caller_connection_t conn;
    /* Only while this caller's call runs: a context kept past its call
     * must not read another caller's record. */
    if (in_call && wh_str_eq(current_caller, ctx->connection_id) && wasmhub_hub_caller_details(&conn)) {
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
        if (ascii_eq_fold(c->query[i].name, name)) return c->query[i].value;
    }
    return WH_NONE;
}

wh_str wh_header(wh_ctx *ctx, const char *name) {
    const wh_connection *c = wh_details(ctx);
    for (size_t i = 0; i < c->header_count; i++) {
        if (ascii_eq_fold(c->headers[i].name, name)) return c->headers[i].value;
    }
    return WH_NONE;
}

wh_str wh_attribute_value(wh_ctx *ctx, const char *key) {
    const wh_connection *c = wh_details(ctx);
    for (size_t i = 0; i < c->attribute_count; i++) {
        if (ascii_eq_fold(c->attributes[i].key, key) && c->attributes[i].count > 0) {
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
        for (size_t p = 0; p < arity(m); p++) {
            int base = m->params[p] & 0xff;
            if (base < WH_ANY || base > WH_OBJECT || (m->params[p] & ~(0xff | WH_NULLABLE))) {
                return wh_err(WH_ERR_INTERNAL, "hub method '%s': parameter %zu has an unknown type", m->name, p);
            }
        }
        for (size_t j = 0; j < i; j++) {
            if (ascii_eq_fold(wh_cstr(methods[j].name), m->name)) {
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
        if (!ascii_eq_fold(name, m->name)) continue;
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
static bool stream_cancelled;

/** Ends an export: its error (if any) into `err`; the arena freed. */
static bool finish(wh_error e, wasmhub_hub_types_hub_error_t *err) {
    bool ok = e.kind == WH_ERR_NONE;
    if (!ok) to_wit_error(e, err);
    in_call = false;
    current_caller = WH_NONE;
    arena_reset();
    return ok;
}

bool exports_wasmhub_hub_handler_init(exports_wasmhub_hub_handler_hub_error_t *err) {
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
    current_caller = details->id;
    in_call = true;
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
        error = from_wit(maybe_error);
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
    ctx->connection_id = from_wit(&caller->id);
    ctx->user = from_wit_option(&caller->user);
    ctx->details = NULL;
    wh_str name = from_wit(method);
    wh_str json = from_wit(args);
    exports_wasmhub_hub_handler_caller_free(caller);
    hub_string_free(method);
    exports_wasmhub_hub_handler_json_free(args);
    current_caller = ctx->connection_id;
    in_call = true;
    WH_TRY(find_method(name, kind, found));
    return bind(*found, json, bound);
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
    stream_cancelled = false;
    wh_error e = begin_call(caller, method, args, WH_STREAM, &ctx, &m, &bound);
    if (e.kind == WH_ERR_NONE) e = m->handler(&ctx, bound, &unused);
    /* A stream its caller cancelled ends quietly (nothing more is sent). */
    if (stream_cancelled) e = WH_OK;
    stream_cancelled = false;
    return finish(e, err);
}

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
    s.connection = in_call ? current_caller : WH_S("");
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
    for (size_t i = 0; i < count; i++) list[i] = to_wit(items[i]);
    return (hub_list_string_t){list, count};
}

/** The WIT selector of a selection (borrowing its strings). */
static wasmhub_hub_types_selector_t to_wit_selector(const wh_sel *to) {
    wasmhub_hub_types_selector_t s;
    s.connection = to_wit_option(to->connection);
    s.user = to_wit_option(to->user);
    s.groups = to_wit_list(to->groups, to->group_count);
    hub_tuple2_string_option_string_t *attributes =
        wh_alloc((to->attribute_count ? to->attribute_count : 1) * sizeof *attributes);
    for (size_t i = 0; i < to->attribute_count; i++) {
        attributes[i].f0 = to_wit(to->attributes[i].name);
        attributes[i].f1 = to_wit_option(to->attributes[i].value);
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
    hub_string_t name = to_wit(wh_cstr(method));
    hub_string_t payload = to_wit(json);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_clients_send(&selector, &name, &payload, &err)) return from_wit_error(&err);
    return WH_OK;
}

static void from_wit_client_result(const wasmhub_hub_types_client_result_t *r, wh_client_result *out) {
    out->connection_id = from_wit(&r->connection_id);
    out->user = from_wit_option(&r->user);
    out->value = NULL;
    out->error = WH_NONE;
    if (r->value.is_err) {
        out->ok = false;
        out->error = from_wit(&r->value.val.err);
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
    hub_string_t name = to_wit(wh_cstr(method));
    hub_string_t payload = to_wit(json);
    uint32_t timeout = to.timeout_ms < 0 ? 0 : to.timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)to.timeout_ms;
    wasmhub_hub_types_client_result_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_clients_invoke_one(&selector, &name, &payload, to.timeout_ms < 0 ? NULL : &timeout, &r, &err)) {
        return from_wit_error(&err);
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
    hub_string_t name = to_wit(wh_cstr(method));
    hub_string_t payload = to_wit(json);
    uint32_t timeout = to.timeout_ms < 0 ? 0 : to.timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)to.timeout_ms;
    wasmhub_hub_clients_list_client_result_t list;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_clients_invoke_all(&selector, &name, &payload, to.timeout_ms < 0 ? NULL : &timeout, &list,
                                        &err)) {
        return from_wit_error(&err);
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
    if (!wasmhub_hub_clients_connection_ids(&selector, &list, &err)) return from_wit_error(&err);
    *ids = (wh_str *)from_wit_list(&list);
    *count = list.len;
    hub_list_string_free(&list);
    return WH_OK;
}

/* ------------------------------------------------------------------------
 * Groups and presence
 */

wh_error wh_groups_add(wh_str connection_id, wh_str group) {
    hub_string_t id = to_wit(connection_id), name = to_wit(group);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_groups_add(&id, &name, &err)) return from_wit_error(&err);
    return WH_OK;
}

wh_error wh_groups_remove(wh_str connection_id, wh_str group) {
    hub_string_t id = to_wit(connection_id), name = to_wit(group);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_groups_remove(&id, &name, &err)) return from_wit_error(&err);
    return WH_OK;
}

/** A presence list as ours; frees the WIT one. */
static void from_wit_infos(wasmhub_hub_presence_list_connection_info_t *list, wh_connection **out, size_t *count) {
    wh_connection *conns = wh_alloc((list->len ? list->len : 1) * sizeof *conns);
    for (size_t i = 0; i < list->len; i++) from_wit_info(&list->ptr[i], &conns[i]);
    *out = conns;
    *count = list->len;
    wasmhub_hub_presence_list_connection_info_free(list);
}

wh_error wh_presence_connections(wh_connection **list, size_t *count) {
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections(&r, &err)) return from_wit_error(&err);
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_by_user(wh_str user, wh_connection **list, size_t *count) {
    hub_string_t u = to_wit(user);
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections_by_user(&u, &r, &err)) return from_wit_error(&err);
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_in_group(wh_str group, wh_connection **list, size_t *count) {
    hub_string_t g = to_wit(group);
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections_in_group(&g, &r, &err)) return from_wit_error(&err);
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_by_attribute(wh_str key, wh_str value, wh_connection **list, size_t *count) {
    hub_string_t k = to_wit(key), v = to_wit(value);
    wasmhub_hub_presence_list_connection_info_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_connections_by_attribute(&k, value.ptr ? &v : NULL, &r, &err)) {
        return from_wit_error(&err);
    }
    from_wit_infos(&r, list, count);
    return WH_OK;
}

wh_error wh_presence_online_users(wh_user_presence **list, size_t *count) {
    wasmhub_hub_presence_list_user_presence_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_online_users(&r, &err)) return from_wit_error(&err);
    wh_user_presence *users = wh_alloc((r.len ? r.len : 1) * sizeof *users);
    for (size_t i = 0; i < r.len; i++) {
        users[i].user = from_wit(&r.ptr[i].user);
        users[i].connections = from_wit_list(&r.ptr[i].connections);
        users[i].connection_count = r.ptr[i].connections.len;
        users[i].nodes = from_wit_list(&r.ptr[i].nodes);
        users[i].node_count = r.ptr[i].nodes.len;
    }
    *list = users;
    *count = r.len;
    wasmhub_hub_presence_list_user_presence_free(&r);
    return WH_OK;
}

wh_error wh_presence_is_user_online(wh_str user, bool *online) {
    hub_string_t u = to_wit(user);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_presence_is_user_online(&u, online, &err)) return from_wit_error(&err);
    return WH_OK;
}

/* ------------------------------------------------------------------------
 * The key-value store
 */

wh_error wh_kv_get(wh_str key, wh_str *value) {
    hub_string_t k = to_wit(key);
    hub_option_string_t r;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_get(&k, &r, &err)) return from_wit_error(&err);
    *value = from_wit_option(&r);
    hub_option_string_free(&r);
    return WH_OK;
}

wh_error wh_kv_set(wh_str key, wh_str value, uint64_t ttl_ms) {
    hub_string_t k = to_wit(key), v = to_wit(value);
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_set(&k, &v, ttl_ms ? &ttl_ms : NULL, &err)) return from_wit_error(&err);
    return WH_OK;
}

wh_error wh_kv_delete(wh_str key, bool *existed) {
    hub_string_t k = to_wit(key);
    bool was = false;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_delete(&k, &was, &err)) return from_wit_error(&err);
    if (existed) *existed = was;
    return WH_OK;
}

wh_error wh_kv_increment(wh_str key, int64_t by, int64_t *sum) {
    hub_string_t k = to_wit(key);
    int64_t total = 0;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_increment(&k, by, &total, &err)) return from_wit_error(&err);
    if (sum) *sum = total;
    return WH_OK;
}

wh_error wh_kv_keys(wh_str prefix, uint32_t limit, wh_str **keys, size_t *count) {
    hub_string_t p = to_wit(prefix);
    hub_list_string_t list;
    wasmhub_hub_types_hub_error_t err;
    if (!wasmhub_hub_kv_keys(&p, limit, &list, &err)) return from_wit_error(&err);
    *keys = (wh_str *)from_wit_list(&list);
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
        out = wh_err_str(WH_ERR_INTERNAL, from_wit(&e->val.upload_failed));
        break;
    case WASMHUB_HUB_STREAMS_STREAM_ERROR_NO_STREAM:
        out = wh_err_str(WH_ERR_NOT_FOUND, from_wit(&e->val.no_stream));
        break;
    default:
        out = wh_err_str(WH_ERR_INVALID_ARGUMENT, from_wit(&e->val.invalid_item));
        break;
    }
    wasmhub_hub_streams_stream_error_free(e);
    return out;
}

wh_error wh_stream_send(const wh_json *item) {
    hub_string_t json = to_wit(wh_json_encode(item));
    wasmhub_hub_streams_stream_error_t err;
    if (wasmhub_hub_streams_send_item(&json, &err)) return WH_OK;
    if (err.tag == WASMHUB_HUB_STREAMS_STREAM_ERROR_CANCELLED) stream_cancelled = true;
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
    wh_str text = from_wit(&r.val);
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
    r.method = to_wit(wh_cstr(request->method ? request->method : "GET"));
    r.url = to_wit(request->url);
    hub_tuple2_string_string_t *headers =
        wh_alloc((request->header_count ? request->header_count : 1) * sizeof *headers);
    for (size_t i = 0; i < request->header_count; i++) {
        headers[i].f0 = to_wit(request->headers[i].name);
        headers[i].f1 = to_wit(request->headers[i].value);
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
    if (!wasmhub_hub_http_send(&r, &answer, &err)) return from_wit_error(&err);
    response->status = answer.status;
    response->headers = from_wit_pairs(&answer.headers);
    response->header_count = answer.headers.len;
    response->body = str_n(answer.body.ptr, answer.body.len);
    wasmhub_hub_http_response_free(&answer);
    return WH_OK;
}

wh_error wh_http_text(const wh_http_response *response, wh_str *text) {
    wh_str why;
    if (!utf8_valid(response->body, &why)) {
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
        pairs[i].f0 = to_wit(fields[i].name);
        pairs[i].f1 = to_wit(fields[i].value);
    }
    hub_list_tuple2_string_string_t list = {pairs, count};
    hub_string_t text = to_wit(message);
    wasmhub_hub_log_log((wasmhub_hub_log_level_t)(level <= WH_ERROR ? level : WH_ERROR), &text, &list);
}

void wh_log(wh_level level, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    wh_str message = vstrf(format, ap);
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
