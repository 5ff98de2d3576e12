// A test hub for outbound HTTP from JavaScript (tests/tests/http.rs): one
// method, `HttpSend(method, url, headers, body, timeoutMs)`, that sends the
// request with the SDK's `fetch` and answers `{ status, headers, body }`
// (the body as text), as the Rust test hub's method of that name does.

import { Router, exportHub, fetch } from "../../../sdks/javascript/wasmhub.js";

const router = new Router().method(
  "HttpSend",
  ["string", "string", "array", "string", "any"],
  (ctx, method, url, headers, body, timeoutMs) => {
    const response = fetch(url, { method, headers, body, timeoutMs });
    return { status: response.status, headers: [...response.headers], body: response.text() };
  },
);

export const handler = exportHub({ router });
