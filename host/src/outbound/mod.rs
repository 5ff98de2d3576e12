//! Outbound HTTP for hubs (the WIT `http` interface): one request, sent
//! only where both the operator (`--http-allow`) and the hub's manifest
//! (`[grants] http`) allow, within one timeout for the whole exchange,
//! its response read up to a size cap.
//!
//! The wire work is reqwest's client (hyper, rustls with the webpki
//! roots), one per hub version, so that connections are kept and reused
//! (a hub that asks its backend on every message pays TCP and TLS once).
//! Redirects are returned to the hub, not followed; no proxy is used.

pub mod allow;

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use wasmtime_wasi_http::Error as WireError;

pub use allow::{Destination, HostPattern};

/// What the operator lets every hub do at most: the hosts, the longest
/// request and the largest response. A hub's manifest may lower the
/// timeout and the cap; it names its own hosts, and a request must be
/// allowed by both lists.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLimits {
    /// `--http-allow`: empty means no hub may make requests.
    pub allow: Vec<HostPattern>,
    /// Connect, send and read the whole response within this.
    pub timeout: Duration,
    /// Largest response body read.
    pub max_response: usize,
}

/// One request as the hub made it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The hub's own shorter timeout, if it set one.
    pub timeout: Option<Duration>,
}

/// The whole answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names lowercase; the values of one name together, names in the
    /// order they first came.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Neither list, or only one, allows the destination.
    #[error("{0}")]
    Denied(String),
    /// A malformed URL, method or header.
    #[error("{0}")]
    Invalid(String),
    #[error("no whole response from {to} within {}", humantime::format_duration(*.within))]
    Timeout { to: String, within: Duration },
    #[error("the response from {to} is larger than the hub's http-max-response of {}", crate::config::format_bytes(*.max))]
    TooLarge { to: String, max: usize },
    /// Refused, unreachable, DNS, TLS, or the server broke HTTP.
    #[error("{0}")]
    Failed(String),
}

impl FetchError {
    /// The `outcome` label of `wasmhub_hub_http_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Denied(_) => "denied",
            FetchError::Invalid(_) => "invalid",
            FetchError::Timeout { .. } => "timeout",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Failed(_) => "failed",
        }
    }
}

/// Idle connections kept per destination, and for how long: less than
/// the 5 s after which Node and Apache close an idle one, so that a
/// request seldom goes out on a connection its server is closing.
const IDLE_PER_HOST: usize = 8;
const IDLE_FOR: Duration = Duration::from_secs(4);

/// One hub version's HTTP client and its pool of open connections, made
/// on the first request (most hubs make none).
#[derive(Default)]
pub struct Client {
    made: OnceLock<Result<reqwest::Client, String>>,
}

impl Client {
    fn get(&self) -> Result<&reqwest::Client, FetchError> {
        self.made
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .pool_max_idle_per_host(IDLE_PER_HOST)
                    .pool_idle_timeout(IDLE_FOR)
                    .build()
                    .map_err(|e| format!("the HTTP client could not be made: {e}"))
            })
            .as_ref()
            .map_err(|e| FetchError::Failed(e.clone()))
    }
}

/// Most bytes reserved for a body before they arrive.
const PREALLOCATE: usize = 64 << 10;

/// Headers a hub may not set: the host writes them (`host`,
/// `content-length`) or they belong to the connection, not the request.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Sends `request` for the hub `hub`, whose manifest grants `grant`,
/// under the hub's `limits` (the operator's hosts, its own timeout and
/// cap), on the hub's `client`.
pub async fn send(
    hub: &str,
    grant: &[HostPattern],
    limits: &HttpLimits,
    client: &Client,
    request: Request,
) -> Result<Response, FetchError> {
    let url = url::Url::parse(&request.url)
        .map_err(|e| FetchError::Invalid(format!("'{}' is not a URL: {e}", request.url)))?;
    let to = Destination::of(&url).map_err(FetchError::Invalid)?;
    check_allowed(hub, grant, &limits.allow, &to)?;
    let timeout = request
        .timeout
        .map_or(limits.timeout, |asked| asked.min(limits.timeout));
    let wire = build(&url, request)?;
    let exchange = exchange(client.get()?, wire, timeout, limits.max_response, &to);
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout {
            to: to.to_string(),
            within: timeout,
        }),
    }
}

/// Both lists must allow `to`; the error names the list that does not.
pub fn check_allowed(
    hub: &str,
    grant: &[HostPattern],
    operator: &[HostPattern],
    to: &Destination,
) -> Result<(), FetchError> {
    if grant.is_empty() {
        return Err(FetchError::Denied(format!(
            "the hub '{hub}' may not make HTTP requests: grant the hosts it needs in its manifest ({hub}.toml beside {hub}.wasm), e.g. [grants] http = [\"api.example.com\"]"
        )));
    }
    if !allow::allows(grant, to) {
        return Err(FetchError::Denied(format!(
            "the hub '{hub}' may not reach {to}: its manifest grants http to {} only",
            list(grant)
        )));
    }
    if !allow::allows(operator, to) {
        // The operator's list is theirs to read (it may name internal
        // hosts): the log shows it, the hub only learns it is not covered.
        let allowed = match operator.is_empty() {
            true => "none".to_owned(),
            false => list(operator),
        };
        tracing::info!(hub, %to, %allowed, "outbound HTTP outside --http-allow refused");
        return Err(FetchError::Denied(format!(
            "this host does not allow HTTP requests to {to}: its operator's --http-allow does not cover it"
        )));
    }
    Ok(())
}

fn list(patterns: &[HostPattern]) -> String {
    patterns
        .iter()
        .map(HostPattern::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The request as it is sent: the hub's method, headers and body, with
/// `host` and a default `user-agent` added.
fn build(url: &url::Url, request: Request) -> Result<http::Request<Bytes>, FetchError> {
    let method = http::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| FetchError::Invalid(format!("'{}' is not an HTTP method", request.method)))?;
    let uri: http::Uri = url
        .as_str()
        .parse()
        .map_err(|e| FetchError::Invalid(format!("'{url}' is not a URL hyper can send: {e}")))?;
    // No userinfo here: `Destination::of` refused it.
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or_else(|| FetchError::Invalid("the URL has no host".to_owned()))?;
    let mut builder = http::Request::builder().method(method).uri(uri);
    let mut has_agent = false;
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(FetchError::Invalid(format!(
                "the header '{name}' is the host's to set"
            )));
        }
        let header = http::HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| FetchError::Invalid(format!("'{name}' is not a header name")))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| {
            FetchError::Invalid(format!("the value of '{name}' is not a header value"))
        })?;
        has_agent |= header == http::header::USER_AGENT;
        builder = builder.header(header, value);
    }
    builder = builder.header(http::header::HOST, authority);
    if !has_agent {
        builder = builder.header(
            http::header::USER_AGENT,
            concat!("wasmhub/", env!("CARGO_PKG_VERSION")),
        );
    }
    builder
        .body(Bytes::from(request.body))
        .map_err(|e| FetchError::Invalid(format!("a bad request: {e}")))
}

/// Sends the request (on a kept connection when there is one) and reads
/// the response body up to `max` bytes.
async fn exchange(
    client: &reqwest::Client,
    request: http::Request<Bytes>,
    timeout: Duration,
    max: usize,
    to: &Destination,
) -> Result<Response, FetchError> {
    let failed = |error: reqwest::Error| request_error(error, to, timeout);
    let mut request = reqwest::Request::try_from(request)
        .map_err(|e| FetchError::Invalid(format!("cannot send to {to}: {e}")))?;
    *request.timeout_mut() = Some(timeout);
    let mut response = client.execute(request).await.map_err(failed)?;
    let too_large = || FetchError::TooLarge {
        to: to.to_string(),
        max,
    };
    // The body's own length (hyper knows HEAD, 204 and 304 have none),
    // not the content-length header, which for HEAD describes the
    // resource.
    let declared = response.content_length().unwrap_or(0);
    if declared > max as u64 {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity((declared as usize).min(PREALLOCATE));
    while let Some(data) = response.chunk().await.map_err(failed)? {
        if bytes.len() + data.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&data);
    }
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(Response {
        status: response.status().as_u16(),
        headers,
        body: bytes,
    })
}

/// What a failed exchange tells the hub: a timeout, or why it failed
/// with the causes reqwest wraps (refused, DNS, TLS).
fn request_error(error: reqwest::Error, to: &Destination, within: Duration) -> FetchError {
    if error.is_timeout() {
        return FetchError::Timeout {
            to: to.to_string(),
            within,
        };
    }
    // reqwest's own text ("error sending request for url (...)") says
    // less than its causes (refused, DNS, a certificate), which it wraps.
    let mut causes = Vec::new();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if causes.last() != Some(&text) {
            causes.push(text);
        }
        cause = inner.source();
    }
    let why = match causes.is_empty() {
        true => error.to_string(),
        false => causes.join(": "),
    };
    if error.is_connect() {
        FetchError::Failed(format!("cannot connect to {to}: {why}"))
    } else {
        FetchError::Failed(format!("the request to {to} failed: {why}"))
    }
}

/// A response body that fails once it passed `max` bytes or `until`
/// passed: `wasi:http` reads bodies in pieces, so the cap and the time
/// limit are on the stream, not a buffer.
pub struct CappedBody<B> {
    body: B,
    max: usize,
    read: usize,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> CappedBody<B> {
    pub fn new(body: B, max: usize, until: tokio::time::Instant) -> Self {
        CappedBody {
            body,
            max,
            read: 0,
            deadline: Box::pin(tokio::time::sleep_until(until)),
        }
    }
}

impl<B> http_body::Body for CappedBody<B>
where
    B: http_body::Body<Data = Bytes, Error = WireError> + Unpin,
{
    type Data = Bytes;
    type Error = WireError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, WireError>>> {
        use std::task::Poll;
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read += data.len();
                    if this.read > this.max {
                        let max = this.max as u64;
                        return Poll::Ready(Some(Err(WireError::HttpResponseBodySize(Some(max)))));
                    }
                }
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(WireError::ConnectionReadTimeout)));
                }
            }
            Poll::Ready(_) => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Vec<HostPattern> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn to(url: &str) -> Destination {
        Destination::of(&url::Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn both_lists_must_allow_and_the_error_names_the_one_that_does_not() {
        let api = to("https://api.example.com/");
        let none = check_allowed("chat", &[], &patterns(&["*"]), &api).unwrap_err();
        assert!(none.to_string().contains("[grants] http"), "{none}");
        let other = check_allowed("chat", &patterns(&["a.com"]), &patterns(&["*"]), &api)
            .unwrap_err()
            .to_string();
        assert!(other.contains("grants http to a.com only"), "{other}");
        let operator = check_allowed("chat", &patterns(&["api.example.com"]), &[], &api)
            .unwrap_err()
            .to_string();
        assert!(
            operator.contains("--http-allow does not cover"),
            "{operator}"
        );
        check_allowed(
            "chat",
            &patterns(&["api.example.com"]),
            &patterns(&["*.example.com"]),
            &api,
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_refused_connection_says_so() {
        // Port 1 on loopback: nothing listens there.
        let allow = patterns(&["127.0.0.1:1"]);
        let limits = HttpLimits {
            allow: allow.clone(),
            timeout: Duration::from_secs(5),
            max_response: 1024,
        };
        let request = Request {
            method: "GET".into(),
            url: "http://127.0.0.1:1/".into(),
            headers: vec![],
            body: vec![],
            timeout: None,
        };
        let error = send("chat", &allow, &limits, &Client::default(), request)
            .await
            .unwrap_err();
        assert_eq!(error.outcome(), "failed");
        let text = error.to_string();
        assert!(
            text.starts_with("cannot connect to http://127.0.0.1:1: ") && text.contains("refused"),
            "{text}"
        );
    }

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        let url = url::Url::parse("http://a.com/").unwrap();
        let request = |headers: Vec<(&str, &str)>| Request {
            method: "GET".into(),
            url: url.to_string(),
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            body: vec![],
            timeout: None,
        };
        for (headers, says) in [
            (vec![("Host", "b.com")], "host's to set"),
            (vec![("Transfer-Encoding", "chunked")], "host's to set"),
            (vec![("bad name", "x")], "not a header name"),
            (vec![("x-a", "line\nbreak")], "not a header value"),
        ] {
            let error = build(&url, request(headers)).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        }
        let built = build(&url, request(vec![("X-Trace", "1")])).unwrap();
        assert_eq!(built.headers()["host"], "a.com");
        assert!(
            built.headers()["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("wasmhub/")
        );
        let bad = build(
            &url,
            Request {
                method: "GE T".into(),
                ..request(vec![])
            },
        )
        .unwrap_err();
        assert!(bad.to_string().contains("not an HTTP method"), "{bad}");
    }
}
