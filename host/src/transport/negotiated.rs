//! Connections that negotiated but have not connected yet, by token.
//!
//! Negotiate hands out a secret token; the WebSocket request presents it
//! as `?id=`. An entry lives until it is used or it expires, so clients
//! that negotiate and never connect cannot grow memory without end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a negotiated connection waits for its transport.
pub const EXPIRY: Duration = Duration::from_secs(30);

/// A negotiated connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub connection_id: String,
    /// Lowercase hub name it negotiated for.
    pub hub: String,
    /// Also shared through the backplane, which is then the authority.
    pub shared: bool,
    /// The client asked for stateful reconnect and was given it.
    pub stateful_reconnect: bool,
}

/// Token → negotiated connection.
#[derive(Default)]
pub struct NegotiatedConnections {
    entries: Mutex<HashMap<String, (Negotiated, Instant)>>,
}

impl NegotiatedConnections {
    /// Records a negotiation; sweeps expired entries on the way.
    pub fn insert(&self, token: String, negotiated: Negotiated) {
        let mut entries = self.entries.lock().expect("negotiated lock");
        let now = Instant::now();
        entries.retain(|_, (_, at)| now.duration_since(*at) < EXPIRY);
        entries.insert(token, (negotiated, now));
    }

    /// Takes the negotiation for a token, if it exists and is fresh.
    pub fn take(&self, token: &str) -> Option<Negotiated> {
        let mut entries = self.entries.lock().expect("negotiated lock");
        let (negotiated, at) = entries.remove(token)?;
        (at.elapsed() < EXPIRY).then_some(negotiated)
    }

    /// Entries waiting (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("negotiated lock").len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A random identifier: 128 bits, URL-safe.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_once() {
        let n = NegotiatedConnections::default();
        let entry = Negotiated {
            connection_id: "c".into(),
            hub: "chat".into(),
            shared: false,
            stateful_reconnect: false,
        };
        n.insert("t".into(), entry.clone());
        assert_eq!(n.take("t"), Some(entry));
        assert_eq!(n.take("t"), None);
        assert!(n.is_empty());
    }
}
