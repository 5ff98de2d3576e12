//! Messages between nodes, as JSON on pub/sub channels.
//!
//! A node's inbox carries what is for it alone (a send to one of its
//! connections, an invocation of its clients, a group change, answers to
//! its own requests); the broadcast channel carries sends to a selection,
//! which every node resolves against its own connections.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::cluster::Selection;

/// One message between nodes. Externally tagged (`{"send": {..}}`):
/// an internally tagged enum would buffer its fields, which raw JSON
/// payloads cannot go through.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Envelope {
    /// Call `method` on the selected connections, fire and forget.
    Send {
        from: String,
        selection: Selection,
        method: String,
        args: Box<RawValue>,
    },
    /// Invoke `method` on these connections of the receiving node and
    /// answer with every result.
    Invoke {
        from: String,
        request: u64,
        hub: String,
        connections: Vec<String>,
        method: String,
        args: Box<RawValue>,
        timeout_ms: u64,
        /// The asking call's trace context, when traces are on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<crate::protocol::TraceContext>,
    },
    /// The results of an `Invoke`, one per connection asked.
    Answers {
        request: u64,
        answers: Vec<WireAnswer>,
    },
    /// Add a connection of the receiving node to a group, or remove it.
    Group {
        from: String,
        request: u64,
        hub: String,
        connection: String,
        group: String,
        add: bool,
    },
    /// The outcome of a `Group`: `not_found` when the connection is gone.
    GroupDone {
        request: u64,
        not_found: Option<String>,
    },
    /// Close the selected connections (the server API's disconnect).
    Close {
        from: String,
        selection: Selection,
        error: Option<String>,
        allow_reconnect: bool,
    },
}

/// One client's answer on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireAnswer {
    pub connection: String,
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Envelope {
    /// The `kind` label of the backplane's message counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Envelope::Send { .. } => "send",
            Envelope::Invoke { .. } => "invoke",
            Envelope::Answers { .. } => "answers",
            Envelope::Group { .. } => "group",
            Envelope::GroupDone { .. } => "group_done",
            Envelope::Close { .. } => "close",
        }
    }

    /// JSON text for PUBLISH.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("envelopes serialize")
    }
}

/// JSON text as a raw value, or `null` when it is not valid JSON (the
/// host checks hub payloads before they get here).
pub fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned())
        .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_with_raw_payloads() {
        let sent = Envelope::Invoke {
            from: "a".into(),
            request: 7,
            hub: "chat".into(),
            connections: vec!["c1".into()],
            method: "Question".into(),
            args: raw(r#"["why?",{"deep":[1,2]}]"#),
            timeout_ms: 1000,
            trace: crate::protocol::TraceContext::from_headers(Some("00-ab-cd-01"), None),
        };
        let text = sent.to_json();
        let Envelope::Invoke {
            args,
            request,
            trace,
            ..
        } = serde_json::from_str(&text).unwrap()
        else {
            panic!("not an invoke: {text}")
        };
        assert_eq!((request, args.get()), (7, r#"["why?",{"deep":[1,2]}]"#));
        assert_eq!(trace.unwrap().traceparent, "00-ab-cd-01");
        // A node of an older version sends no trace.
        let old = r#"{"invoke":{"from":"a","request":1,"hub":"h","connections":[],"method":"m","args":[],"timeout_ms":5}}"#;
        let Envelope::Invoke { trace, .. } = serde_json::from_str(old).unwrap() else {
            panic!("not an invoke")
        };
        assert_eq!(trace, None);
        let answers = Envelope::Answers {
            request: 7,
            answers: vec![WireAnswer {
                connection: "c1".into(),
                user: None,
                result: Some(raw("42")),
                error: None,
            }],
        };
        let Envelope::Answers { answers, .. } = serde_json::from_str(&answers.to_json()).unwrap()
        else {
            panic!("not answers")
        };
        assert_eq!(answers[0].result.as_ref().unwrap().get(), "42");
    }
}
