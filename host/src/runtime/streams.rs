//! The `streams` import: what one call streams to its caller, the upload
//! streams the caller attached to it, its cancellation, and a sleep.
//!
//! Every wait here (the client draining its items, the client's next
//! upload item, a sleep) is the host's time, not the hub's: a streaming
//! method that paces itself or waits for uploads never runs into its
//! deadline; a busy loop still does.

use tokio::sync::{mpsc, watch};

use super::bindings::wasmhub::hub::streams::{self, StreamError};
use super::state::HostState;

type Host<T> = wasmtime::Result<T>;

/// One upload item: JSON text, or the error the client failed the
/// stream with. The channel closing is the stream's completion.
pub type UploadItem = Result<String, String>;

/// The streams of one call, set up by the connection that runs it.
#[derive(Default)]
pub struct CallStreams {
    /// Where a streaming call's items go; `None` for a plain invocation.
    pub items: Option<mpsc::Sender<String>>,
    /// The caller's upload streams, in the order of its `streamIds`.
    pub uploads: Vec<mpsc::Receiver<UploadItem>>,
    /// Becomes true when the caller cancels the call or leaves.
    pub cancelled: Option<watch::Receiver<bool>>,
}

impl CallStreams {
    fn is_cancelled(&self) -> bool {
        self.cancelled.as_ref().is_some_and(|c| *c.borrow())
    }
}

/// Resolves when `cancelled` turns true; never without one.
async fn cancellation(cancelled: Option<watch::Receiver<bool>>) {
    match cancelled {
        Some(mut cancelled) => {
            if cancelled.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

impl HostState {
    fn call_streams(&mut self) -> Option<&mut CallStreams> {
        self.call.as_mut().map(|call| &mut call.streams)
    }
}

impl streams::Host for HostState {
    async fn send_item(&mut self, item: String) -> Host<Result<(), StreamError>> {
        if let Err(e) = serde_json::from_str::<&serde_json::value::RawValue>(&item) {
            return Ok(Err(StreamError::InvalidItem(format!(
                "the item is not valid JSON: {e}"
            ))));
        }
        if item.len() + 64 > self.env.max_outbound_message {
            return Ok(Err(StreamError::InvalidItem(format!(
                "the item is {} bytes, more than the {} a connection may have waiting (--outbound-buffer)",
                item.len(),
                crate::config::format_bytes(self.env.max_outbound_message)
            ))));
        }
        let Some(call) = self.call_streams() else {
            return Ok(Err(no_stream("send-item outside a call")));
        };
        let Some(items) = call.items.clone() else {
            return Ok(Err(no_stream(
                "send-item in a call that is not streaming (invoke-stream)",
            )));
        };
        if call.is_cancelled() {
            return Ok(Err(StreamError::Cancelled));
        }
        let cancelled = call.cancelled.clone();
        let sent = self
            .waiting(async move {
                tokio::select! {
                    sent = items.send(item) => sent.map_err(|_| StreamError::Cancelled),
                    () = cancellation(cancelled) => Err(StreamError::Cancelled),
                }
            })
            .await;
        Ok(sent)
    }

    async fn upload_count(&mut self) -> Host<u32> {
        Ok(self
            .call_streams()
            .map_or(0, |call| call.uploads.len() as u32))
    }

    async fn next_upload(&mut self, index: u32) -> Host<Result<Option<String>, StreamError>> {
        let Some(call) = self.call_streams() else {
            return Ok(Err(no_stream("next-upload outside a call")));
        };
        let count = call.uploads.len();
        let cancelled = call.cancelled.clone();
        let Some(upload) = call.uploads.get_mut(index as usize) else {
            return Ok(Err(no_stream(&format!(
                "upload {index} does not exist: the caller sent {count} upload stream(s)"
            ))));
        };
        // The receiver is taken out for the wait and put back after.
        let mut upload = std::mem::replace(upload, mpsc::channel(1).1);
        let (next, upload) = self
            .waiting(async move {
                let next = tokio::select! {
                    item = upload.recv() => match item {
                        None => Ok(None),
                        Some(Ok(item)) => Ok(Some(item)),
                        Some(Err(error)) => Err(StreamError::UploadFailed(error)),
                    },
                    () = cancellation(cancelled) => Err(StreamError::Cancelled),
                };
                (next, upload)
            })
            .await;
        if let Some(slot) = self
            .call_streams()
            .and_then(|call| call.uploads.get_mut(index as usize))
        {
            *slot = upload;
        }
        Ok(next)
    }

    async fn is_cancelled(&mut self) -> Host<bool> {
        Ok(self.call_streams().is_some_and(|call| call.is_cancelled()))
    }

    async fn sleep(&mut self, ms: u32) -> Host<bool> {
        let wait = std::time::Duration::from_millis(ms.into()).min(self.env.invoke_timeout);
        let cancelled = self.call_streams().and_then(|call| call.cancelled.clone());
        let slept = self
            .waiting(async move {
                tokio::select! {
                    () = tokio::time::sleep(wait) => true,
                    () = cancellation(cancelled) => false,
                }
            })
            .await;
        Ok(slept)
    }
}

fn no_stream(what: &str) -> StreamError {
    StreamError::NoStream(what.to_owned())
}
