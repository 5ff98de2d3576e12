//! [`Router`]: hub method names to handler functions.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::args::{Args, bind};
use crate::{Context, HubError};

/// A handler with its argument binding and result encoding erased: JSON
/// array text in, JSON text out.
type Erased = Box<dyn Fn(&Context, &str) -> Result<String, HubError> + Send + Sync>;

/// A streaming handler, erased: JSON array text in, each item handed to
/// `emit` as JSON text (`emit` says false when the caller cancelled).
type ErasedStream = Box<
    dyn Fn(&Context, &str, &mut dyn FnMut(&str) -> Result<bool, HubError>) -> Result<(), HubError>
        + Send
        + Sync,
>;

/// A method: a plain one answers once, a streaming one item by item.
enum Entry {
    Plain(Erased),
    Stream(ErasedStream),
}

/// What a client's invocation was: `invoke`/`send`, or `stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    Stream,
}

/// The hub's methods by name, so that a hub is a list of plain functions.
///
/// Names match case-insensitively, as in ASP.NET Core SignalR. A
/// `BTreeMap` rather than a `HashMap`: no hashing, so the hub does not
/// import a random seed from WASI.
#[derive(Default)]
pub struct Router {
    /// By lowercase name: the name as registered, and the handler.
    methods: BTreeMap<String, (String, Entry)>,
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
    pub fn method<A, R, F>(self, name: &str, handler: F) -> Self
    where
        A: Args,
        R: Serialize,
        F: Fn(&Context, A) -> Result<R, HubError> + Send + Sync + 'static,
    {
        let method = name.to_string();
        let erased: Erased = Box::new(move |ctx, json| {
            let args = bind::<A>(json)?;
            let result = handler(ctx, args)?;
            serde_json::to_string(&result).map_err(|error| {
                HubError::internal(format!("the result of '{method}' is not JSON: {error}"))
            })
        });
        self.add(name, Entry::Plain(erased))
    }

    /// Adds the streaming method `name`: the client calls it with
    /// `stream()`, and every item of the iterator `handler` returns goes
    /// to it as it is produced. The stream ends when the iterator does,
    /// or early when the caller cancels (the iterator is dropped then).
    /// An `Err` from `handler` fails the stream before its first item.
    ///
    /// A handler that returns `impl Iterator` writes `+ use<>` after it
    /// (`Result<impl Iterator<Item = u32> + use<>, HubError>`): the items
    /// must not borrow the `Context`.
    ///
    /// # Panics
    /// As [`Router::method`], when `name` is taken.
    pub fn stream<A, I, F>(self, name: &str, handler: F) -> Self
    where
        A: Args,
        I: IntoIterator,
        I::Item: Serialize,
        F: Fn(&Context, A) -> Result<I, HubError> + Send + Sync + 'static,
    {
        let method = name.to_string();
        let erased: ErasedStream = Box::new(move |ctx, json, emit| {
            let args = bind::<A>(json)?;
            for item in handler(ctx, args)? {
                let json = serde_json::to_string(&item).map_err(|error| {
                    HubError::internal(format!("an item of '{method}' is not JSON: {error}"))
                })?;
                if !emit(&json)? {
                    break;
                }
            }
            Ok(())
        });
        self.add(name, Entry::Stream(erased))
    }

    fn add(mut self, name: &str, entry: Entry) -> Self {
        let key = name.to_lowercase();
        assert!(
            !self.methods.contains_key(&key),
            "hub method '{name}' is defined twice"
        );
        self.methods.insert(key, (name.to_string(), entry));
        self
    }

    /// Whether a method of this name (any case) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.methods.contains_key(&name.to_lowercase())
    }

    /// Runs the method `name` with `args` (a JSON array) and returns its
    /// result as JSON text; `MethodNotFound(name)` when there is none.
    pub fn dispatch(&self, ctx: &Context, name: &str, args: &str) -> Result<String, HubError> {
        match self.entry(name, Kind::Plain)? {
            Entry::Plain(handler) => handler(ctx, args),
            Entry::Stream(_) => unreachable!("entry() checked the kind"),
        }
    }

    /// Runs the streaming method `name`, handing each item to `emit`.
    pub(crate) fn dispatch_stream(
        &self,
        ctx: &Context,
        name: &str,
        args: &str,
        emit: &mut dyn FnMut(&str) -> Result<bool, HubError>,
    ) -> Result<(), HubError> {
        match self.entry(name, Kind::Stream)? {
            Entry::Stream(handler) => handler(ctx, args, emit),
            Entry::Plain(_) => unreachable!("entry() checked the kind"),
        }
    }

    /// The method `name`, if the client called it the way it is meant to
    /// be called (ASP.NET Core's texts otherwise).
    fn entry(&self, name: &str, kind: Kind) -> Result<&Entry, HubError> {
        let (declared, entry) = self
            .methods
            .get(&name.to_lowercase())
            .ok_or_else(|| HubError::method_not_found(name))?;
        match (entry, kind) {
            (Entry::Plain(_), Kind::Plain) | (Entry::Stream(_), Kind::Stream) => Ok(entry),
            (Entry::Stream(_), Kind::Plain) => Err(HubError::WrongInvocation(format!(
                "The client attempted to invoke the streaming '{declared}' method with a non-streaming invocation."
            ))),
            (Entry::Plain(_), Kind::Stream) => Err(HubError::WrongInvocation(format!(
                "The client attempted to invoke the non-streaming '{declared}' method with a streaming invocation."
            ))),
        }
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
    fn streams_yield_items_and_refuse_the_wrong_kind_of_call() {
        let router = Router::new()
            .stream("Count", |_: &Context, (to,): (u32,)| Ok(1..=to))
            .method("Echo", |_: &Context, (t,): (String,)| Ok(t));
        let ctx = sample();
        let mut items = Vec::new();
        router
            .dispatch_stream(&ctx, "count", "[3]", &mut |item| {
                items.push(item.to_owned());
                Ok(true)
            })
            .unwrap();
        assert_eq!(items, ["1", "2", "3"]);
        // A cancelled caller stops the iterator.
        let mut taken = 0;
        router
            .dispatch_stream(&ctx, "Count", "[100]", &mut |_| {
                taken += 1;
                Ok(taken < 2)
            })
            .unwrap();
        assert_eq!(taken, 2);
        assert_eq!(
            router.dispatch(&ctx, "count", "[1]").unwrap_err(),
            HubError::WrongInvocation(
                "The client attempted to invoke the streaming 'Count' method with a non-streaming invocation."
                    .into()
            )
        );
        assert_eq!(
            router
                .dispatch_stream(&ctx, "Echo", "[\"x\"]", &mut |_| Ok(true))
                .unwrap_err(),
            HubError::WrongInvocation(
                "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation."
                    .into()
            )
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
