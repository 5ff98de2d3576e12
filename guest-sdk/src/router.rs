//! [`Router`]: hub method names to handler functions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::args::{Args, bind};
use crate::{Context, HubError};

/// A handler with its argument binding and result encoding erased: JSON
/// array text in, JSON text out.
type Erased = Box<dyn Fn(&Context, &str) -> Result<String, HubError> + Send + Sync>;

/// The hub's methods by name, so that a hub is a list of plain functions.
///
/// Names match case-insensitively, as in ASP.NET Core SignalR. A
/// `BTreeMap` rather than a `HashMap`: no hashing, so the hub does not
/// import a random seed from WASI.
#[derive(Default)]
pub struct Router {
    methods: BTreeMap<String, Erased>,
}

impl Router {
    /// An empty router; add methods with [`Router::method`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the method `name`, served by `handler`.
    ///
    /// `handler` takes the caller's [`Context`] and a tuple of arguments
    /// (`()`, `(A,)`, `(A, B)`, ... up to eight), each any
    /// `DeserializeOwned`; its result is any `Serialize` (`()` is `null`).
    ///
    /// # Panics
    /// When `name` is already taken (compared case-insensitively): two
    /// methods that differ only in case could never both be reached.
    pub fn method<A, R, F>(mut self, name: &str, handler: F) -> Self
    where
        A: Args,
        R: Serialize,
        F: Fn(&Context, A) -> Result<R, HubError> + Send + Sync + 'static,
    {
        let key = name.to_lowercase();
        assert!(
            !self.methods.contains_key(&key),
            "hub method '{name}' is defined twice"
        );
        let method = name.to_string();
        let erased: Erased = Box::new(move |ctx, json| {
            let args = bind::<A>(json)?;
            let result = handler(ctx, args)?;
            serde_json::to_string(&result).map_err(|error| {
                HubError::internal(format!("the result of '{method}' is not JSON: {error}"))
            })
        });
        self.methods.insert(key, erased);
        self
    }

    /// Whether a method of this name (any case) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.methods.contains_key(&name.to_lowercase())
    }

    /// Runs the method `name` with `args` (a JSON array) and returns its
    /// result as JSON text; `MethodNotFound(name)` when there is none.
    pub fn dispatch(&self, ctx: &Context, name: &str, args: &str) -> Result<String, HubError> {
        let handler = self
            .methods
            .get(&name.to_lowercase())
            .ok_or_else(|| HubError::method_not_found(name))?;
        handler(ctx, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::tests::sample;

    fn router() -> Router {
        Router::new()
            .method("Echo", |_: &Context, (text,): (String,)| Ok(text))
            .method("Add", |_: &Context, (a, b): (i64, i64)| Ok(a + b))
            .method("Nothing", |_: &Context, ()| Ok(()))
            .method("Caller", |ctx: &Context, ()| {
                Ok(ctx.connection_id().to_string())
            })
            .method("Fail", |_: &Context, ()| -> Result<(), HubError> {
                Err(HubError::not_found("gone"))
            })
    }

    #[test]
    fn methods_match_case_insensitively() {
        let router = router();
        let ctx = sample();
        assert_eq!(
            router.dispatch(&ctx, "echo", r#"["hi"]"#).unwrap(),
            r#""hi""#
        );
        assert_eq!(
            router.dispatch(&ctx, "ECHO", r#"["hi"]"#).unwrap(),
            r#""hi""#
        );
        assert_eq!(router.dispatch(&ctx, "add", "[2, 3]").unwrap(), "5");
        assert_eq!(router.dispatch(&ctx, "caller", "[]").unwrap(), r#""c1""#);
        assert!(router.contains("NoThInG"));
    }

    #[test]
    fn unit_results_are_null() {
        assert_eq!(
            router().dispatch(&sample(), "Nothing", "[]").unwrap(),
            "null"
        );
    }

    #[test]
    fn unknown_methods_are_reported_by_name() {
        let error = router().dispatch(&sample(), "Nope", "[]").unwrap_err();
        assert_eq!(error, HubError::method_not_found("Nope"));
    }

    #[test]
    fn handler_and_binding_errors_pass_through() {
        let router = router();
        let ctx = sample();
        assert_eq!(
            router.dispatch(&ctx, "Fail", "[]").unwrap_err(),
            HubError::not_found("gone")
        );
        let error = router.dispatch(&ctx, "Add", "[1]").unwrap_err();
        assert_eq!(
            error,
            HubError::invalid_argument("Invocation provides 1 argument(s) but target expects 2.")
        );
    }

    #[test]
    #[should_panic(expected = "defined twice")]
    fn duplicate_names_are_refused() {
        let _ = Router::new()
            .method("Echo", |_: &Context, (t,): (String,)| Ok(t))
            .method("echo", |_: &Context, (t,): (String,)| Ok(t));
    }
}
