/*
 * wasmhub for C: what the SDK's own files share that is not API. Hubs
 * include wasmhub.h (the API), never this; it is here to keep the SDK's
 * internals out of that header.
 *
 * The implementation, one concern a file:
 * - strings.c: the per-call arena (every allocation the SDK makes for a
 *   call, freed in one go when the export returns) and the string and
 *   UTF-8 helpers.
 * - errors.c: `wh_error`, and the WIT hub-error both ways.
 * - json.c: JSON values, and the writer, which writes what serde_json
 *   writes.
 * - json_parse.c: the reader (a DOM, strict RFC 8259, bounded depth,
 *   numbers read as serde_json reads them).
 * - args.c: argument binding with serde's and ASP.NET Core's error texts.
 * - dispatch.c: the five `handler` exports, the method table, the call's
 *   context, and the copies from the WIT types to ours.
 * - host.c: the wrappers of every import.
 *
 * Ownership at the boundary (wit-bindgen's C ABI): the arguments of an
 * export belong to the export (freed here with the generated `*_free`),
 * what an export returns is freed by the generated post-return function
 * (so it is malloc'd: `hub_string_dup_n`), the arguments of an import are
 * borrowed, and what an import returns belongs to us (copied into the
 * arena, then freed).
 *
 * The hub's own files and the generated bindings are linked into the same
 * module, so what is shared here is named `wh__...`; what only one file
 * uses stays `static` there. Each is documented where it is defined.
 */
#ifndef WASMHUB_INTERNAL_H
#define WASMHUB_INTERNAL_H

#include <stdarg.h>

#include "wasmhub.h"

/* strings.c: the arena, strings, UTF-8 */

void wh__arena_reset(void);
wh_str wh__str_n(const void *p, size_t len);
wh_str wh__vstrf(const char *format, va_list ap);
uint32_t wh__utf8_at(const unsigned char *p, size_t avail, size_t *len);
size_t wh__utf8_put(char *out, uint32_t c);
bool wh__utf8_valid(wh_str bytes, wh_str *why);
bool wh__ascii_eq_fold(wh_str a, const char *b);

/* errors.c: hub-error, WIT and ours */

wh_error wh__from_wit_error(wasmhub_hub_types_hub_error_t *e);
void wh__to_wit_error(wh_error error, wasmhub_hub_types_hub_error_t *out);

/* json.c: values, floats as serde_json writes them */

wh_json *wh__new_value(wh_type type);
void wh__grow(wh_json *v);
size_t wh__format_f64(double value, char *out);

/* args.c: binding arguments */

size_t wh__arity(const wh_method *m);
wh_error wh__bind(const wh_method *m, wh_str json, wh_json ***args);

/* dispatch.c: the WIT types to ours (and back, borrowed), the running call */

wh_str wh__from_wit(const hub_string_t *s);
wh_str wh__from_wit_option(const hub_option_string_t *s);
hub_string_t wh__to_wit(wh_str s);
hub_option_string_t wh__to_wit_option(wh_str s);
const wh_str *wh__from_wit_list(const hub_list_string_t *list);
const wh_pair *wh__from_wit_pairs(const hub_list_tuple2_string_string_t *list);
void wh__from_wit_info(const wasmhub_hub_types_connection_info_t *c, wh_connection *conn);

extern wh_str wh__current_caller;
extern bool wh__in_call;
extern bool wh__stream_cancelled;

#endif
