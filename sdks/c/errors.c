/*
 * wasmhub for C: errors. The `wh_error` a handler and every host call
 * return, built here (message in the arena), and its conversions to and
 * from the WIT `hub-error` that the exports return and the imports give.
 */
#include "wasmhub_internal.h"

#include <stdarg.h>

/* ------------------------------------------------------------------------
 * Errors
 */

wh_error wh_err_str(wh_kind kind, wh_str message) {
    /* Copied: the message may be in the handler's own (stack) memory. */
    return (wh_error){kind, message.ptr ? wh__str_n(message.ptr, message.len) : WH_S("")};
}

wh_error wh_err(wh_kind kind, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    wh_str message = wh__vstrf(format, ap);
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
wh_error wh__from_wit_error(wasmhub_hub_types_hub_error_t *e) {
    wh_kind kind = e->tag <= WASMHUB_HUB_TYPES_HUB_ERROR_WRONG_INVOCATION ? (wh_kind)(e->tag + 1) : WH_ERR_INTERNAL;
    /* Every case carries a string at the same place. */
    wh_str message = wh__str_n(e->val.internal.ptr, e->val.internal.len);
    wasmhub_hub_types_hub_error_free(e);
    return (wh_error){kind, message};
}

/** Our error as the WIT value an export returns (its string malloc'd: the
 * post-return function frees it). */
void wh__to_wit_error(wh_error error, wasmhub_hub_types_hub_error_t *out) {
    wh_kind kind = error.kind;
    if (kind < WH_ERR_METHOD_NOT_FOUND || kind > WH_ERR_WRONG_INVOCATION) kind = WH_ERR_INTERNAL;
    out->tag = (uint8_t)(kind - 1);
    hub_string_dup_n(&out->val.internal, error.message.ptr ? error.message.ptr : "", error.message.len);
}
