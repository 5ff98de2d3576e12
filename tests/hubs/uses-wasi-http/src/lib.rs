//! Test fixture: a hub that sends HTTP through the standard
//! `wasi:http/outgoing-handler` (the `wasip2` crate's bindings), as one
//! built with a wasi:http client crate does, so the host's grant applies
//! to that way out too.

use serde_json::{Value, json};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;
use wasmhub_guest::{Context, Hub, HubError, Router};

struct UsesWasiHttp;

impl Hub for UsesWasiHttp {
    fn router() -> Router {
        Router::new().method("WasiHttpGet", get)
    }
}

wasmhub_guest::export_hub!(UsesWasiHttp);

/// `WasiHttpGet(authority, path)`: `{status, body}` of `GET
/// http://authority/path`, or `{error}` with wasi:http's error code.
fn get(_: &Context, (authority, path): (String, String)) -> Result<Value, HubError> {
    Ok(match fetch(&authority, &path) {
        Ok((status, body)) => json!({ "status": status, "body": body }),
        Err(error) => json!({ "error": error }),
    })
}

fn fetch(authority: &str, path: &str) -> Result<(u16, String), String> {
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "method")?;
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "path")?;
    let outgoing = request.body().map_err(|()| "body")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no response")?
        .map_err(|()| "taken")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "consume")?;
    let stream = body.stream().map_err(|()| "stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => bytes.extend(chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                drop(stream);
                return Err(
                    match IncomingBody::finish(body).get().and_then(|t| t.ok()) {
                        Some(Err(code)) => format!("{code:?}"),
                        _ => e.to_debug_string(),
                    },
                );
            }
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
