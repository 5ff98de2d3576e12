//! The frames waiting for a connection's writer, in order: a deque under
//! a lock with one consumer.
//!
//! Not a tokio channel: an mpsc channel allocates its first block of 32
//! slots when it is made (about 1.8 KB per connection), and most
//! connections are idle most of the time; an empty `VecDeque` holds
//! nothing. The byte budget lives in the connection handle; this only
//! keeps the order and wakes the writer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::handle::Frame;

/// Capacity an emptied queue keeps: a burst's larger buffer is given back.
const KEPT_CAPACITY: usize = 64;

/// The queue both ends share.
#[derive(Default)]
pub struct OutboundQueue {
    state: Mutex<State>,
    /// Wakes the writer when a frame lands in an empty queue.
    ready: Notify,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Frame>,
    /// The writer is gone: nothing queued would be sent.
    closed: bool,
}

impl OutboundQueue {
    /// A queue and its writer's end.
    pub fn new() -> (Arc<Self>, QueuedFrames) {
        let queue = Arc::new(Self::default());
        let frames = QueuedFrames {
            queue: queue.clone(),
        };
        (queue, frames)
    }

    /// Appends a frame; gives it back when the writer is gone.
    pub fn push(&self, frame: Frame) -> Result<(), Frame> {
        let mut state = self.state.lock().expect("outbound queue lock");
        if state.closed {
            return Err(frame);
        }
        let was_empty = state.frames.is_empty();
        state.frames.push_back(frame);
        drop(state);
        // A writer only waits after it found the queue empty.
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    fn pop(&self) -> Option<Frame> {
        let mut state = self.state.lock().expect("outbound queue lock");
        let frame = state.frames.pop_front();
        if state.frames.is_empty() && state.frames.capacity() > KEPT_CAPACITY {
            state.frames = VecDeque::new();
        }
        frame
    }
}

/// The writer's end: frames in the order they were queued.
pub struct QueuedFrames {
    queue: Arc<OutboundQueue>,
}

impl QueuedFrames {
    /// The next frame, waiting for one if the queue is empty.
    pub async fn recv(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.queue.pop() {
                return frame;
            }
            // notify_one keeps a permit when nobody waits yet, so a push
            // between the pop above and this wait is not missed.
            self.queue.ready.notified().await;
        }
    }

    /// The next frame if one is queued now.
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.queue.pop()
    }
}

impl Drop for QueuedFrames {
    fn drop(&mut self) {
        let mut state = self.queue.state.lock().expect("outbound queue lock");
        state.closed = true;
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(text: &'static str) -> Frame {
        Frame {
            bytes: Bytes::from_static(text.as_bytes()),
            trackable: false,
        }
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_wake_a_waiting_writer() {
        let (queue, mut frames) = OutboundQueue::new();
        let writer = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(frames.recv().await.bytes);
            }
            (got, frames)
        });
        // Let the writer find the queue empty and wait.
        tokio::task::yield_now().await;
        for text in ["a", "b", "c"] {
            queue.push(frame(text)).unwrap();
        }
        let (got, mut frames) = writer.await.unwrap();
        assert_eq!(got, ["a", "b", "c"]);
        assert!(frames.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_gone_writer_refuses_frames() {
        let (queue, frames) = OutboundQueue::new();
        queue.push(frame("queued")).unwrap();
        drop(frames);
        assert_eq!(queue.push(frame("late")).unwrap_err(), frame("late"));
    }

    #[test]
    fn an_emptied_queue_gives_back_a_burst_buffer() {
        let (queue, mut frames) = OutboundQueue::new();
        for _ in 0..1000 {
            queue.push(frame("x")).unwrap();
        }
        while frames.try_recv().is_some() {}
        assert_eq!(queue.state.lock().unwrap().frames.capacity(), 0);
    }
}
