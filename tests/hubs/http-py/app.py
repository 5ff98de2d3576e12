"""A test hub for outbound HTTP from Python (tests/tests/http.rs): one
method, `HttpSend(method, url, headers, body, timeoutMs)`, that sends the
request with `wasmhub.http` and answers `{status, headers, body}` (the
body as text), as the Rust test hub's method of that name does.
`HttpOpen(url)` goes through `urlopen` and answers the status, or the
HTTPError's code as `{"httpError": code}`."""

from typing import Any, List, Optional

from wasmhub import Context, Hub, http

hub = Hub()


@hub.method("HttpSend")
def http_send(
    ctx: Context,
    method: str,
    url: str,
    headers: List[List[str]],
    body: str,
    timeout_ms: Optional[int],
) -> Any:
    timeout = None if timeout_ms is None else timeout_ms / 1000
    answer = http.request(method, url, dict(headers), body, timeout=timeout)
    return {"status": answer.status, "headers": answer.headers.items(), "body": answer.text()}


@hub.method("HttpOpen")
def http_open(ctx: Context, url: str) -> Any:
    try:
        with http.urlopen(url) as answer:
            return {"status": answer.status}
    except http.HTTPError as error:
        return {"httpError": error.code}


Handler = hub.handler()
