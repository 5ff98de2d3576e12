//! The node's recent notable events (hub swaps and refusals, traps,
//! failed invocations), kept in a small ring for the dashboard.
//!
//! Counters say how many; this says which and why, so an operator looking
//! at a spike sees the last messages without reading logs. Bounded: the
//! oldest event goes when a new one comes.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Events kept per node.
pub const KEPT: usize = 50;

/// Longest text kept per event.
const MAX_TEXT: usize = 300;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A new version of a hub serves.
    Swap,
    /// A hub file was refused (it does not load, or fails its check).
    Refused,
    /// A hub file was removed: the hub is served no more.
    Retired,
    /// A hub call trapped (deadline, memory, panic).
    Trap,
    /// An invocation failed with the hub's error.
    Error,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub kind: EventKind,
    pub hub: String,
    /// What it was about: the method, or the version's sha256.
    pub subject: String,
    pub text: String,
}

/// The ring of recent events.
#[derive(Debug, Default)]
pub struct RecentEvents {
    ring: Mutex<VecDeque<Event>>,
}

impl RecentEvents {
    /// Keeps one event (its text cut to a few hundred bytes).
    pub fn record(&self, kind: EventKind, hub: &str, subject: &str, text: &str) {
        let mut text = text.to_owned();
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        let event = Event {
            at: now_ms(),
            kind,
            hub: hub.to_owned(),
            subject: subject.to_owned(),
            text,
        };
        let mut ring = self.ring.lock().expect("events lock");
        if ring.len() == KEPT {
            ring.pop_front();
        }
        ring.push_back(event);
    }

    /// The events kept, newest first.
    pub fn newest_first(&self) -> Vec<Event> {
        self.ring
            .lock()
            .expect("events lock")
            .iter()
            .rev()
            .cloned()
            .collect()
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    ms_since_epoch(SystemTime::now())
}

/// Milliseconds since the Unix epoch at `at` (0 before it).
pub fn ms_since_epoch(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_cuts_long_texts() {
        let events = RecentEvents::default();
        for n in 0..KEPT + 3 {
            events.record(EventKind::Error, "chat", &format!("M{n}"), "boom");
        }
        let kept = events.newest_first();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].subject, format!("M{}", KEPT + 2));
        assert_eq!(kept[KEPT - 1].subject, "M3");
        events.record(EventKind::Trap, "chat", "Spin", &"é".repeat(400));
        let long = &events.newest_first()[0].text;
        assert!(long.len() <= MAX_TEXT + '…'.len_utf8() && long.ends_with('…'));
    }
}
