//! Outbound HTTP requests from a hub.
//!
//! Needs the grant in the hub's manifest (`<name>.toml` beside the
//! `.wasm`: `[grants] http = ["api.example.com"]`), and the operator's
//! `--http-allow` must cover the host too; otherwise a request fails with
//! `Unauthorized` saying which to add. A request waits for the whole
//! response, at most the hub's `http-timeout` (`Timeout`), and reads at
//! most `http-max-response` bytes (`Unavailable`); the wait does not count
//! against the hub's deadline. Redirects are returned, not followed.
//!
//! ```no_run
//! use wasmhub_guest::{HubError, http};
//!
//! fn allowed(user: &str) -> Result<bool, HubError> {
//!     let url = format!("https://auth.example.com/may-join?user={user}");
//!     let answer = http::get(&url)?;
//!     Ok(answer.status == 200 && answer.json::<bool>()?)
//! }
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::HubError;
use crate::bindings::wasmhub::hub::http as wit;

/// A request being built; [`Request::send`] sends it.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

impl Request {
    /// A request with any method (`"PUT"`, `"DELETE"`, ...).
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    /// Adds a header (`host` and `content-length` are the host's).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body, as is.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// `value` as a JSON body, with `content-type: application/json`.
    pub fn json<T: Serialize>(self, value: &T) -> Result<Request, HubError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| HubError::internal(format!("cannot encode the request body: {e}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Gives up sooner than the hub's `http-timeout` (never later).
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and waits for the whole response.
    pub fn send(self) -> Result<Response, HubError> {
        let timeout_ms = self
            .timeout
            .map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX).max(1));
        let answer = wit::send(&wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms,
        })?;
        Ok(Response {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        })
    }
}

/// A whole response: any status is a response, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Names lowercase; the values of one name together, names in the
    /// order they first came.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, HubError> {
        std::str::from_utf8(&self.body)
            .map_err(|e| HubError::internal(format!("the response body is not UTF-8: {e}")))
    }

    /// The body read as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HubError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            HubError::internal(format!("the response body is not the JSON expected: {e}"))
        })
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HubError> {
    Request::get(url).send()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_response_reads_its_headers_text_and_json() {
        let ok = response(200, "[1,2]");
        assert!(ok.is_success());
        assert_eq!(ok.header("Content-Type"), Some("application/json"));
        assert_eq!(ok.header("x-none"), None);
        assert_eq!(ok.text().unwrap(), "[1,2]");
        assert_eq!(ok.json::<Vec<u8>>().unwrap(), vec![1, 2]);
        assert!(!response(302, "").is_success());
        assert!(response(200, "{").json::<u8>().is_err());
    }

    #[test]
    fn a_json_request_says_so() {
        let request = Request::post("http://a/").json(&("x", 1)).unwrap();
        assert_eq!(request.body, br#"["x",1]"#);
        assert_eq!(
            request.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
    }
}
