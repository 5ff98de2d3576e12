//! Streams, both ways: what a streaming method yields goes to its caller
//! item by item ([`Router::stream`](crate::Router::stream)); the upload
//! streams a client attached to a call are read with
//! [`Context::upload`](crate::Context::upload). Plus the call's
//! cancellation and a [`sleep`] that does not count against the hub's
//! deadline.
//!
//! ```no_run
//! use std::time::Duration;
//! use wasmhub_guest::{Context, HubError, Router, streams};
//!
//! fn router() -> Router {
//!     Router::new()
//!         .stream("Count", count)
//!         .method("Concat", concat)
//! }
//!
//! // `connection.stream("Count", 5)`: 1, 2, 3, 4, 5, one every 100 ms.
//! fn count(_: &Context, (to,): (u32,)) -> Result<impl Iterator<Item = u32> + use<>, HubError> {
//!     Ok((1..=to).take_while(|_| streams::sleep(Duration::from_millis(100))))
//! }
//!
//! // `connection.invoke("Concat", subject)`: the items the client uploads.
//! fn concat(ctx: &Context, (): ()) -> Result<String, HubError> {
//!     ctx.upload::<String>(0).collect()
//! }
//! ```

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::HubError;

/// Sleeps for `duration` (at most the host's `--invoke-timeout` per
/// call), without counting against the hub's deadline. False when it
/// ended early because the caller cancelled the call or left: stop then.
pub fn sleep(duration: Duration) -> bool {
    let ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
    host::sleep(ms)
}

/// True once the caller cancelled the running call or left.
pub fn is_cancelled() -> bool {
    host::is_cancelled()
}

/// The items of one upload stream, as the client sends them: an
/// iterator that waits for each (not the hub's time) and ends when the
/// client completes the stream. An item is `Err` when the client failed
/// the stream (`Internal` with its error, which the client reads as
/// `HubException: <error>`), the caller left, or the item does not fit `T`.
pub struct Upload<T> {
    index: u32,
    done: bool,
    item: PhantomData<fn() -> T>,
}

impl<T> Upload<T> {
    pub(crate) fn new(index: u32) -> Self {
        Self {
            index,
            done: false,
            item: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Iterator for Upload<T> {
    type Item = Result<T, HubError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = host::next_upload(self.index);
        let item = match next {
            Ok(None) => None,
            Ok(Some(json)) => Some(serde_json::from_str(&json).map_err(HubError::from)),
            Err(error) => Some(Err(error)),
        };
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}

/// How many upload streams the caller attached to the running call.
pub(crate) fn upload_count() -> u32 {
    host::upload_count()
}

/// Sends one item of a streaming method to its caller. `Ok(false)` when
/// the caller cancelled (the stream stops).
pub(crate) fn send_item(json: &str) -> Result<bool, HubError> {
    host::send_item(json)
}

#[cfg(target_arch = "wasm32")]
mod host {
    use crate::HubError;
    use crate::bindings::wasmhub::hub::streams::{self, StreamError};

    fn error(error: StreamError) -> HubError {
        match error {
            StreamError::Cancelled => {
                HubError::unavailable("the caller cancelled the call or left")
            }
            // Reads as `HubException: <text>`, as in ASP.NET Core.
            StreamError::UploadFailed(text) => HubError::internal(text),
            StreamError::NoStream(text) => HubError::not_found(text),
            StreamError::InvalidItem(text) => HubError::invalid_argument(text),
        }
    }

    pub fn sleep(ms: u32) -> bool {
        streams::sleep(ms)
    }

    pub fn is_cancelled() -> bool {
        streams::is_cancelled()
    }

    pub fn upload_count() -> u32 {
        streams::upload_count()
    }

    pub fn next_upload(index: u32) -> Result<Option<String>, HubError> {
        streams::next_upload(index).map_err(error)
    }

    pub fn send_item(json: &str) -> Result<bool, HubError> {
        match streams::send_item(json) {
            Ok(()) => Ok(true),
            Err(StreamError::Cancelled) => Ok(false),
            Err(other) => Err(error(other)),
        }
    }
}

/// Off wasm (unit tests) there is no host: nothing is cancelled, no
/// uploads arrive, items go nowhere.
#[cfg(not(target_arch = "wasm32"))]
mod host {
    use crate::HubError;

    pub fn sleep(_ms: u32) -> bool {
        true
    }

    pub fn is_cancelled() -> bool {
        false
    }

    pub fn upload_count() -> u32 {
        0
    }

    pub fn next_upload(_index: u32) -> Result<Option<String>, HubError> {
        Ok(None)
    }

    pub fn send_item(_json: &str) -> Result<bool, HubError> {
        Ok(true)
    }
}
