//! Outbound HTTP of hubs, both ways in: the hub world's `http` interface
//! and `wasi:http/outgoing-handler` ([`GrantHooks`]). Either goes through
//! [`crate::outbound`], behind the manifest's `[grants] http` and the
//! operator's `--http-allow`. Waiting on the `http` interface is not
//! charged to the hub's deadline; the request's own timeout bounds it.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use super::bindings::HubError;
use super::bindings::wasmhub::hub::http;
use super::state::{HostState, HubEnv};
use crate::outbound::{self, CappedBody, Destination, FetchError};

impl From<FetchError> for HubError {
    fn from(error: FetchError) -> Self {
        let message = error.to_string();
        match error {
            FetchError::Denied(_) => HubError::Unauthorized(message),
            FetchError::Invalid(_) => HubError::InvalidArgument(message),
            FetchError::Timeout { .. } => HubError::Timeout(message),
            FetchError::TooLarge { .. } | FetchError::Failed(_) => HubError::Unavailable(message),
        }
    }
}

impl http::Host for HostState {
    async fn send(
        &mut self,
        request: http::Request,
    ) -> wasmtime::Result<Result<http::Response, HubError>> {
        let env = self.env.clone();
        let request = outbound::Request {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: request
                .timeout_ms
                .map(|ms| Duration::from_millis(ms.into())),
        };
        let url = request.url.clone();
        let sent = outbound::send(
            &env.hub,
            &env.grants.http,
            &env.http,
            &env.http_client,
            request,
        );
        let result = self.waiting(sent).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) => error.outcome(),
        };
        env.metrics
            .hubs
            .http_requests
            .with_label_values(&[env.hub.as_str(), outcome])
            .inc();
        Ok(match result {
            Ok(response) => {
                tracing::debug!(hub = %env.hub, %url, status = response.status, bytes = response.body.len(), "http request");
                Ok(http::Response {
                    status: response.status,
                    headers: response.headers,
                    body: response.body,
                })
            }
            Err(error) => {
                tracing::debug!(hub = %env.hub, %url, %error, "http request failed");
                Err(error.into())
            }
        })
    }
}

/// `wasi:http`'s hooks for one instance: a request goes out only where
/// the hub's grant and the operator allow (as with the `http` interface),
/// gets a response within the hub's `http-timeout` and its body is cut
/// off past `http-max-response` or when that time is up; at most
/// [`WASI_HTTP_AT_ONCE`] requests of one instance are open at once. The
/// hub sees a refusal as `HTTP-request-denied`; the host logs why.
/// Unlike the `http` interface, a hub waits for wasi:http in `wasi:io`'s
/// poll, which is counted against its deadline.
pub struct GrantHooks {
    env: Arc<HubEnv>,
    open: Arc<tokio::sync::Semaphore>,
}

/// Requests one instance may have open (sent, body not yet read).
pub const WASI_HTTP_AT_ONCE: usize = 8;

impl GrantHooks {
    pub fn new(env: Arc<HubEnv>) -> Self {
        GrantHooks {
            env,
            open: Arc::new(tokio::sync::Semaphore::new(WASI_HTTP_AT_ONCE)),
        }
    }
}

type Sent = wasmtime_wasi_http::Result<(
    ::http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for GrantHooks {
    fn send_request(
        &mut self,
        mut request: ::http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let env = self.env.clone();
        let open = self.open.clone();
        Box::new(async move {
            let count = |outcome: &str| {
                env.metrics
                    .hubs
                    .http_requests
                    .with_label_values(&[env.hub.as_str(), outcome])
                    .inc();
            };
            let uri = request.uri().to_string();
            let allowed = url::Url::parse(&uri)
                .map_err(|e| FetchError::Invalid(format!("'{uri}' is not a URL: {e}")))
                .and_then(|url| Destination::of(&url).map_err(FetchError::Invalid))
                .and_then(|to| {
                    outbound::check_allowed(&env.hub, &env.grants.http, &env.http.allow, &to)
                });
            if let Err(error) = allowed {
                tracing::warn!(hub = %env.hub, %uri, %error, "wasi:http request refused");
                count(error.outcome());
                return Err(wasmtime_wasi_http::Error::HttpRequestDenied);
            }
            // wasmtime 48's p2 `handle` sends no `host`, and a hub may not
            // set one: HTTP/1.1 servers need it.
            if !request.headers().contains_key(::http::header::HOST)
                && let Some(authority) = request.uri().authority()
                && let Ok(value) = ::http::HeaderValue::from_str(authority.as_str())
            {
                request.headers_mut().insert(::http::header::HOST, value);
            }
            let longest = env.http.timeout;
            let until = tokio::time::Instant::now() + longest;
            let within = |asked: Option<Duration>| Some(asked.map_or(longest, |a| a.min(longest)));
            let options = options.unwrap_or_default();
            let options = RequestOptions {
                connect_timeout: within(options.connect_timeout),
                first_byte_timeout: within(options.first_byte_timeout),
                between_bytes_timeout: within(options.between_bytes_timeout),
            };
            // The whole exchange within the timeout: the phases' own
            // limits leave TLS's handshake unbounded.
            let sent = tokio::time::timeout_at(until, async {
                let permit = open
                    .acquire_owned()
                    .await
                    .map_err(|_| wasmtime_wasi_http::Error::ConnectionLimitReached)?;
                let (response, connection) =
                    wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
                Ok::<_, wasmtime_wasi_http::Error>((response, permit, connection))
            })
            .await
            .unwrap_or(Err(wasmtime_wasi_http::Error::ConnectionTimeout));
            match sent {
                Ok((response, permit, connection)) => {
                    count("ok");
                    let max = env.http.max_response;
                    let response =
                        response.map(|body| CappedBody::new(body, max, until).boxed_unsync());
                    // The permit goes with the connection: it is open until
                    // the body is read or dropped.
                    let connection = async move {
                        let _permit = permit;
                        connection.await
                    };
                    Ok((
                        response,
                        Box::new(connection) as Box<dyn Future<Output = _> + Send>,
                    ))
                }
                Err(error) => {
                    let timed_out = matches!(
                        error,
                        wasmtime_wasi_http::Error::ConnectionTimeout
                            | wasmtime_wasi_http::Error::ConnectionReadTimeout
                            | wasmtime_wasi_http::Error::HttpResponseTimeout
                            | wasmtime_wasi_http::Error::DnsTimeout
                    );
                    count(if timed_out { "timeout" } else { "failed" });
                    Err(error)
                }
            }
        })
    }
}
