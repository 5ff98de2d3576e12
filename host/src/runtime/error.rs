//! Why a call into a hub failed, and what the client reads about it.

use super::bindings::HubError;

/// The outcome of a failed call into a hub.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The hub returned an error.
    #[error("{}", hub_error_text(.0))]
    Hub(HubError),
    /// The hub trapped: a panic, its deadline, its memory limit, or no
    /// instance could be made. The instance is discarded.
    #[error("HubTrap: {0}")]
    Trap(String),
}

fn hub_error_text(error: &HubError) -> String {
    let (kind, message) = kind_and_message(error);
    format!("{kind}: {message}")
}

fn kind_and_message(error: &HubError) -> (&'static str, &str) {
    match error {
        HubError::MethodNotFound(m) => ("MethodNotFound", m),
        HubError::InvalidArgument(m) => ("InvalidArgument", m),
        HubError::Unauthorized(m) => ("Unauthorized", m),
        HubError::NotFound(m) => ("NotFound", m),
        HubError::Timeout(m) => ("Timeout", m),
        HubError::NoClientResponded(m) => ("NoClientResponded", m),
        HubError::Unavailable(m) => ("Unavailable", m),
        HubError::Internal(m) => ("HubException", m),
        HubError::WrongInvocation(m) => ("WrongInvocation", m),
    }
}

impl CallError {
    /// The error's kind, as the Completion's text starts with it
    /// (`MethodNotFound`, `HubException`, `HubTrap`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Hub(error) => kind_and_message(error).0,
            CallError::Trap(_) => "HubTrap",
        }
    }

    /// The Completion error text for a failed invocation of `method`, in
    /// the shape ASP.NET Core SignalR uses with detailed errors on.
    pub fn completion_text(&self, method: &str) -> String {
        match self {
            CallError::Hub(HubError::MethodNotFound(_)) => format!("Unknown hub method '{method}'"),
            CallError::Hub(HubError::WrongInvocation(text)) => text.clone(),
            other => {
                format!("An unexpected error occurred invoking '{method}' on the server. {other}")
            }
        }
    }

    /// The Completion error text for a stream of `method` that failed
    /// after its first item (ASP.NET Core's wording); before it, the
    /// text is [`Self::completion_text`]'s.
    pub fn stream_text(&self, method: &str, items_sent: bool) -> String {
        match self {
            CallError::Hub(HubError::WrongInvocation(text)) => text.clone(),
            other if items_sent => {
                format!("An error occurred on the server while streaming results. {other}")
            }
            other => other.completion_text(method),
        }
    }

    /// The Close error text when `on-connected` refused a connection.
    pub fn refusal_text(&self) -> String {
        match self {
            CallError::Hub(error) => {
                let (kind, message) = kind_and_message(error);
                format!("The hub refused the connection. {kind}: {message}")
            }
            trap => format!("The hub failed to accept the connection. {trap}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_the_client_sees() {
        assert_eq!(
            CallError::Hub(HubError::MethodNotFound("x".into())).completion_text("Nope"),
            "Unknown hub method 'Nope'"
        );
        assert_eq!(
            CallError::Hub(HubError::Internal("InvalidOperationException: boom".into()))
                .completion_text("ThrowException"),
            "An unexpected error occurred invoking 'ThrowException' on the server. HubException: InvalidOperationException: boom"
        );
        assert_eq!(
            CallError::Hub(HubError::NotFound("user 'bob' is not online".into()))
                .completion_text("Whisper"),
            "An unexpected error occurred invoking 'Whisper' on the server. NotFound: user 'bob' is not online"
        );
        assert_eq!(
            CallError::Trap("the hub ran past its deadline of 5s".into()).completion_text("Spin"),
            "An unexpected error occurred invoking 'Spin' on the server. HubTrap: the hub ran past its deadline of 5s"
        );
        assert_eq!(
            CallError::Hub(HubError::InvalidArgument("a name is required".into())).refusal_text(),
            "The hub refused the connection. InvalidArgument: a name is required"
        );
    }
}
