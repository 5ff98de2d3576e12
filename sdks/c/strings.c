/*
 * wasmhub for C: the per-call arena and the strings (see wasmhub.h for the
 * API, wasmhub_internal.h for the map of the SDK's files).
 *
 * Everything the SDK hands out lives in the arena, freed in one go when
 * the export returns (dispatch.c resets it); the wh_str helpers and the
 * UTF-8 code here (Rust's `str::trim`, `from_utf8` and `from_utf8_lossy`
 * semantics) allocate from it, and so does every other file.
 */
#include "wasmhub_internal.h"

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
void wh__arena_reset(void) {
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
wh_str wh__str_n(const void *p, size_t len) {
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
    return wh__str_n(s.ptr, s.len);
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

wh_str wh__vstrf(const char *format, va_list ap) {
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
    wh_str s = wh__vstrf(format, ap);
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
uint32_t wh__utf8_at(const unsigned char *p, size_t avail, size_t *len) {
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
    while (start < end && is_white_space(wh__utf8_at(p + start, end - start, &n))) start += n;
    while (end > start) {
        size_t last = end - 1;
        while (last > start && (p[last] & 0xc0) == 0x80) last--;
        if (!is_white_space(wh__utf8_at(p + last, end - last, &n))) break;
        end = last;
    }
    return wh__str_n(p + start, end - start);
}

/** Appends the UTF-8 of `c` at `out`; returns the bytes written. */
size_t wh__utf8_put(char *out, uint32_t c) {
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
            o += wh__utf8_put(out + o, 0xfffd); /* one for each maximal invalid prefix */
        }
    }
    out[o] = '\0';
    return (wh_str){out, o};
}

/** Whether `bytes` is UTF-8; if not, `*why` is Rust's `Utf8Error` text. */
bool wh__utf8_valid(wh_str bytes, wh_str *why) {
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
bool wh__ascii_eq_fold(wh_str a, const char *b) {
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
