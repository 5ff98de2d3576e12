//! Binding a JSON argument array to a handler's argument tuple.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::HubError;

/// ASP.NET Core SignalR's text for arguments of the wrong type; clients
/// written against ASP.NET may match on it.
pub const BINDING_ERROR: &str = "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.";

/// A tuple of handler arguments, `()` up to eight elements, each read from
/// one element of the invocation's JSON array.
///
/// Implemented for tuples only: the tuple's length is the method's arity.
pub trait Args: Sized {
    /// How many arguments the method takes.
    const ARITY: usize;

    /// Reads the tuple from exactly `ARITY` values; on failure says which
    /// argument (0-based) did not fit.
    fn from_values(values: Vec<Value>) -> Result<Self, (usize, serde_json::Error)>;
}

/// Parses `json` (a JSON array) into `A`, with ASP.NET's error texts.
pub fn bind<A: Args>(json: &str) -> Result<A, HubError> {
    let values: Vec<Value> = serde_json::from_str(json).map_err(|error| {
        HubError::invalid_argument(format!(
            "{BINDING_ERROR} The arguments are not a JSON array: {error}"
        ))
    })?;
    if values.len() != A::ARITY {
        return Err(HubError::invalid_argument(format!(
            "Invocation provides {} argument(s) but target expects {}.",
            values.len(),
            A::ARITY
        )));
    }
    A::from_values(values).map_err(|(index, error)| {
        HubError::invalid_argument(format!("{BINDING_ERROR} Argument {index}: {error}"))
    })
}

/// Implements [`Args`] for one tuple size: `$t` are the element types,
/// `$i` their positions.
macro_rules! impl_args {
    ($arity:expr; $($t:ident $i:tt),*) => {
        impl<$($t: DeserializeOwned),*> Args for ($($t,)*) {
            const ARITY: usize = $arity;

            #[allow(unused_mut, unused_variables)]
            fn from_values(mut values: Vec<Value>) -> Result<Self, (usize, serde_json::Error)> {
                Ok(($(serde_json::from_value::<$t>(values[$i].take()).map_err(|e| ($i, e))?,)*))
            }
        }
    };
}

impl_args!(0;);
impl_args!(1; A 0);
impl_args!(2; A 0, B 1);
impl_args!(3; A 0, B 1, C 2);
impl_args!(4; A 0, B 1, C 2, D 3);
impl_args!(5; A 0, B 1, C 2, D 3, E 4);
impl_args!(6; A 0, B 1, C 2, D 3, E 4, F 5);
impl_args!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
impl_args!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(test)]
mod tests {
    use super::*;

    fn message(error: HubError) -> String {
        match error {
            HubError::InvalidArgument(m) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn binds_matching_arguments() {
        let (room, count): (String, u32) = bind(r#"["lobby", 3]"#).unwrap();
        assert_eq!((room.as_str(), count), ("lobby", 3));
        let () = bind("[]").unwrap();
        let (absent,): (Option<String>,) = bind("[null]").unwrap();
        assert_eq!(absent, None);
    }

    #[test]
    fn arity_mismatch_uses_the_aspnet_text() {
        let error = bind::<(String, String)>(r#"["only one"]"#).unwrap_err();
        assert_eq!(
            message(error),
            "Invocation provides 1 argument(s) but target expects 2."
        );
        let error = bind::<()>("[1, 2, 3]").unwrap_err();
        assert_eq!(
            message(error),
            "Invocation provides 3 argument(s) but target expects 0."
        );
    }

    #[test]
    fn type_mismatch_uses_the_aspnet_text() {
        let error = bind::<(String, u32)>(r#"["a", "b"]"#).unwrap_err();
        let text = message(error);
        assert!(text.starts_with(BINDING_ERROR), "{text}");
        assert!(text.contains("Argument 1"), "{text}");
    }

    #[test]
    fn a_non_array_is_a_binding_error() {
        let text = message(bind::<(String,)>(r#"{"a": 1}"#).unwrap_err());
        assert!(text.starts_with(BINDING_ERROR), "{text}");
    }
}
