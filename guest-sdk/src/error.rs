//! The one error type of the SDK: what handlers return and imports report.

use std::fmt;

use crate::bindings::wasmhub::hub::types::HubError as WitHubError;

/// Why a hub call or a host import failed.
///
/// It mirrors the WIT `hub-error` variant one to one, so that an error
/// crosses the boundary unchanged: the client sees it as
/// `<Kind>: <message>` (or `Unknown hub method '<method>'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubError {
    /// No hub method has this name; carries the name the client used.
    MethodNotFound(String),
    /// The arguments do not fit the method, or a value is not acceptable.
    InvalidArgument(String),
    /// The caller may not do this.
    Unauthorized(String),
    /// A connection, user or group the call names does not exist.
    NotFound(String),
    /// Something took longer than allowed.
    Timeout(String),
    /// `invoke-one`/`invoke-all` got no result; the message says why.
    NoClientResponded(String),
    /// The host (or another node of its cluster) cannot serve this now.
    Unavailable(String),
    /// Anything else: a bug or a failure the caller cannot fix.
    Internal(String),
    /// A streaming method was invoked without `stream()`, or a plain one
    /// with it; the message is the client's whole error text.
    WrongInvocation(String),
}

impl HubError {
    /// Shorthand for [`HubError::MethodNotFound`].
    pub fn method_not_found(method: impl Into<String>) -> Self {
        Self::MethodNotFound(method.into())
    }

    /// Shorthand for [`HubError::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::InvalidArgument(message.into())
    }

    /// Shorthand for [`HubError::Unauthorized`].
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(message.into())
    }

    /// Shorthand for [`HubError::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// Shorthand for [`HubError::Timeout`].
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::Timeout(message.into())
    }

    /// Shorthand for [`HubError::NoClientResponded`].
    pub fn no_client_responded(message: impl Into<String>) -> Self {
        Self::NoClientResponded(message.into())
    }

    /// Shorthand for [`HubError::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    /// Shorthand for [`HubError::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// The variant's name as the client sees it (`NotFound`, ...), so logs
    /// and messages can say what kind of failure this is.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MethodNotFound(_) => "MethodNotFound",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::Unauthorized(_) => "Unauthorized",
            Self::NotFound(_) => "NotFound",
            Self::Timeout(_) => "Timeout",
            Self::NoClientResponded(_) => "NoClientResponded",
            Self::Unavailable(_) => "Unavailable",
            Self::Internal(_) => "Internal",
            Self::WrongInvocation(_) => "WrongInvocation",
        }
    }

    /// The text the variant carries, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::MethodNotFound(m)
            | Self::InvalidArgument(m)
            | Self::Unauthorized(m)
            | Self::NotFound(m)
            | Self::Timeout(m)
            | Self::NoClientResponded(m)
            | Self::Unavailable(m)
            | Self::Internal(m)
            | Self::WrongInvocation(m) => m,
        }
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for HubError {}

/// Lets handlers use `?` on `serde_json` calls: reading or converting a
/// value that does not fit is the caller's fault (`InvalidArgument`); an
/// I/O failure is not (`Internal`).
impl From<serde_json::Error> for HubError {
    fn from(error: serde_json::Error) -> Self {
        match error.classify() {
            serde_json::error::Category::Io => Self::Internal(error.to_string()),
            _ => Self::InvalidArgument(error.to_string()),
        }
    }
}

/// Imports report the WIT error; the SDK hands out its own.
impl From<WitHubError> for HubError {
    fn from(error: WitHubError) -> Self {
        match error {
            WitHubError::MethodNotFound(m) => Self::MethodNotFound(m),
            WitHubError::InvalidArgument(m) => Self::InvalidArgument(m),
            WitHubError::Unauthorized(m) => Self::Unauthorized(m),
            WitHubError::NotFound(m) => Self::NotFound(m),
            WitHubError::Timeout(m) => Self::Timeout(m),
            WitHubError::NoClientResponded(m) => Self::NoClientResponded(m),
            WitHubError::Unavailable(m) => Self::Unavailable(m),
            WitHubError::Internal(m) => Self::Internal(m),
            WitHubError::WrongInvocation(m) => Self::WrongInvocation(m),
        }
    }
}

/// Exports return the WIT error to the host.
impl From<HubError> for WitHubError {
    fn from(error: HubError) -> Self {
        match error {
            HubError::MethodNotFound(m) => Self::MethodNotFound(m),
            HubError::InvalidArgument(m) => Self::InvalidArgument(m),
            HubError::Unauthorized(m) => Self::Unauthorized(m),
            HubError::NotFound(m) => Self::NotFound(m),
            HubError::Timeout(m) => Self::Timeout(m),
            HubError::NoClientResponded(m) => Self::NoClientResponded(m),
            HubError::Unavailable(m) => Self::Unavailable(m),
            HubError::Internal(m) => Self::Internal(m),
            HubError::WrongInvocation(m) => Self::WrongInvocation(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_kind_and_message() {
        let error = HubError::not_found("user 'bob' is not online");
        assert_eq!(error.to_string(), "NotFound: user 'bob' is not online");
    }

    #[test]
    fn round_trips_through_the_wit_type() {
        let all = [
            HubError::method_not_found("a"),
            HubError::invalid_argument("b"),
            HubError::unauthorized("c"),
            HubError::not_found("d"),
            HubError::timeout("e"),
            HubError::no_client_responded("f"),
            HubError::unavailable("g"),
            HubError::internal("h"),
            HubError::WrongInvocation("i".into()),
        ];
        for error in all {
            let wit: WitHubError = error.clone().into();
            assert_eq!(HubError::from(wit), error);
        }
    }

    #[test]
    fn json_errors_are_invalid_arguments() {
        let error = serde_json::from_str::<u32>("\"x\"").unwrap_err();
        assert!(matches!(
            HubError::from(error),
            HubError::InvalidArgument(_)
        ));
    }
}
