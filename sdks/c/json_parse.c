/*
 * wasmhub for C: the JSON reader. Strict RFC 8259 into the arena DOM, with
 * a bounded depth, serde_json's error texts and positions, its object key
 * order and its number parsing (bit for bit the doubles a Rust hub sees).
 * Kept apart from json.c: it is the biggest piece, and all about reading.
 */
#include "wasmhub_internal.h"

#include <math.h>
#include <string.h>

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
            o += wh__utf8_put(buf + o, code);
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
    wh_json *v = wh__new_value(WH_JSON_NUMBER);
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
    v->str = wh__str_n(start, (size_t)(ps->p - start));
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
        wh__grow(v);
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
        wh_json *v = wh__new_value(WH_JSON_STRING);
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
