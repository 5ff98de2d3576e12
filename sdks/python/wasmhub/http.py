"""Outbound HTTP requests from a hub, shaped like `urllib.request`.

    from wasmhub import http

    with http.urlopen("https://auth.example.com/may-join?user=ann", timeout=2) as answer:
        allowed = answer.json()

Needs the grant in the hub's manifest (`<name>.toml` beside the `.wasm`:
`[grants]` then `http = ["auth.example.com"]`), and the operator's
`--http-allow` must cover the host too; otherwise the call raises
`Unauthorized` saying which to add. A request waits for the whole
response, at most the hub's `http-timeout` (`Timeout`), and reads at most
`http-max-response` bytes (`Unavailable`, as are refused connections and
DNS or TLS failures); the wait does not count against the hub's deadline.
Redirects are returned, not followed.

`urlopen` raises `HTTPError` for a status of 400 or more, like urllib;
`request` returns every response.
"""

import json as _json
import math
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from wit_world.imports import http as _wit

from .errors import Internal, host_call


class Headers:
    """Response headers: names lowercase, one name's values together; `get`
    and `[]` ignore case, like `http.client.HTTPMessage`."""

    def __init__(self, items: List[Tuple[str, str]]):
        self._items = [(name.lower(), value) for name, value in items]

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        name = name.lower()
        for key, value in self._items:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> List[str]:
        name = name.lower()
        return [value for key, value in self._items if key == name]

    def items(self) -> List[Tuple[str, str]]:
        return list(self._items)

    def __getitem__(self, name: str) -> Optional[str]:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Response:
    """A whole response: `status`, `headers`, and the body through
    `read()`, `text()` or `json()`. Usable in a `with` block."""

    def __init__(self, url: str, status: int, headers: List[Tuple[str, str]], body: bytes):
        self.url = url
        self.status = status
        self.headers = Headers(headers)
        self.body = bytes(body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def getcode(self) -> int:
        return self.status

    def read(self) -> bytes:
        return self.body

    def text(self, encoding: str = "utf-8") -> str:
        try:
            return self.body.decode(encoding)
        except UnicodeDecodeError as error:
            raise Internal(f"the response from {self.url} is not {encoding}: {error}") from None

    def json(self) -> Any:
        try:
            return _json.loads(self.body)
        except ValueError as error:
            raise Internal(f"the response from {self.url} is not JSON: {error}") from None

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __repr__(self) -> str:
        return f"<Response {self.status} from {self.url}>"


class HTTPError(Exception):
    """What `urlopen` raises for a status of 400 or more; it carries the
    response (`code`, `headers`, `read()`), as urllib's does."""

    def __init__(self, response: Response):
        super().__init__(f"HTTP Error {response.status}")
        self.response = response
        self.code = response.status
        self.status = response.status
        self.headers = response.headers
        self.url = response.url

    def read(self) -> bytes:
        return self.response.body


class Request:
    """A request to send later, like `urllib.request.Request`: `data`
    makes it a POST unless `method` says otherwise."""

    def __init__(
        self,
        url: str,
        data: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        method: Optional[str] = None,
    ):
        self.full_url = url
        self.data = data
        self.headers: Dict[str, str] = dict(headers or {})
        self.method = method

    def get_method(self) -> str:
        return self.method or ("POST" if self.data is not None else "GET")

    def add_header(self, name: str, value: str) -> None:
        self.headers[name] = value


def request(
    method: str,
    url: str,
    headers: Optional[Mapping[str, str]] = None,
    body: Union[bytes, str, None] = None,
    json: Any = None,
    timeout: Optional[float] = None,
) -> Response:
    """Sends one request and returns its response, whatever the status.
    `json` sends a value as a JSON body; `timeout` (seconds) may only be
    shorter than the hub's `http-timeout`."""
    pairs = [(str(name), str(value)) for name, value in (headers or {}).items()]
    if json is not None:
        body = _json.dumps(json, separators=(",", ":"))
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("content-type", "application/json"))
    if isinstance(body, str):
        body = body.encode("utf-8")
    # None, inf or nan: the hub's own http-timeout.
    finite = timeout is not None and math.isfinite(timeout)
    timeout_ms = max(1, min(int(timeout * 1000), 2**32 - 1)) if finite else None
    answer = host_call(
        _wit.send,
        _wit.Request(
            method=method,
            url=url,
            headers=pairs,
            body=body or b"",
            timeout_ms=timeout_ms,
        ),
    )
    return Response(url, answer.status, answer.headers, answer.body)


def urlopen(
    url: Union[str, Request],
    data: Optional[bytes] = None,
    timeout: Optional[float] = None,
) -> Response:
    """Opens `url` (a string or a `Request`) like `urllib.request.urlopen`:
    raises `HTTPError` for a status of 400 or more."""
    if isinstance(url, str):
        url = Request(url, data)
    elif data is not None:
        url.data = data
    response = request(url.get_method(), url.full_url, url.headers, url.data, timeout=timeout)
    if response.status >= 400:
        raise HTTPError(response)
    return response


def get(url: str, headers: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None) -> Response:
    """`GET url`, every status returned."""
    return request("GET", url, headers, timeout=timeout)


def post(url: str, body: Union[bytes, str, None] = None, json: Any = None,
         headers: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None) -> Response:
    """`POST url` with `body` or a `json` value, every status returned."""
    return request("POST", url, headers, body, json=json, timeout=timeout)
