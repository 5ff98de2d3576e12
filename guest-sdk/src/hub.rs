//! The [`Hub`] trait a hub implements, and the glue that exports it.

use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::bindings::exports::wasmhub::hub::handler::Guest;
use crate::bindings::wasmhub::hub::types::{
    Accepted as WitAccepted, Caller, Connection, HubError as WitHubError, Json,
};
use crate::{Context, HubError, Router};

/// A hub: its methods, plus what happens when clients come and go.
///
/// Export it with [`export_hub!`](crate::export_hub).
pub trait Hub {
    /// The hub's methods. Called once per instance; the router is kept.
    fn router() -> Router;

    /// Runs once on every new instance, after the router is built. The
    /// host calls it when it loads the hub too: an `Err` (or a panic)
    /// there refuses the file. By default nothing happens.
    fn init() -> Result<(), HubError> {
        Ok(())
    }

    /// A client completed its handshake. `Err` refuses it (the client gets
    /// a Close with the error). By default every client is accepted as is.
    fn on_connected(ctx: &Context) -> Result<Accepted, HubError> {
        let _ = ctx;
        Ok(Accepted::default())
    }

    /// A client is gone; `error` says why when it did not close cleanly.
    /// By default nothing happens.
    fn on_disconnected(ctx: &Context, error: Option<&str>) {
        let _ = (ctx, error);
    }
}

/// What `on_connected` decides about a connection it lets in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The user id to give the connection; `None` keeps the one it has.
    pub user: Option<String>,
}

impl Accepted {
    /// Accepts the connection as the user `user` (overrides a JWT's `sub`).
    pub fn user(user: impl Into<String>) -> Self {
        Self {
            user: Some(user.into()),
        }
    }
}

impl From<Accepted> for WitAccepted {
    fn from(accepted: Accepted) -> Self {
        Self {
            user: accepted.user,
        }
    }
}

thread_local! {
    /// The connection whose call is running, for `clients::caller()`.
    static CURRENT_CALLER: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The id of the connection whose call is running, if any.
pub(crate) fn current_caller() -> Option<String> {
    CURRENT_CALLER.with(|c| c.borrow().clone())
}

/// Runs `f` as a call of `caller`.
fn as_caller<T>(caller: Option<&str>, f: impl FnOnce() -> T) -> T {
    CURRENT_CALLER.with(|c| *c.borrow_mut() = caller.map(str::to_string));
    let out = f();
    CURRENT_CALLER.with(|c| *c.borrow_mut() = None);
    out
}

/// The router of the one hub in this component. A component exports a
/// single `handler`, so one slot is enough.
static ROUTER: OnceLock<Router> = OnceLock::new();

/// Implements the WIT `handler` export for the hub `H`; used by
/// [`export_hub!`](crate::export_hub), not by hub authors.
#[doc(hidden)]
pub struct Export<H>(PhantomData<fn() -> H>);

impl<H: Hub> Guest for Export<H> {
    fn init() -> Result<(), WitHubError> {
        ROUTER.get_or_init(H::router);
        H::init().map_err(Into::into)
    }

    fn on_connected(conn: Connection) -> Result<WitAccepted, WitHubError> {
        let id = conn.id.clone();
        as_caller(Some(&id), || H::on_connected(&Context::new(conn)))
            .map(Into::into)
            .map_err(Into::into)
    }

    fn on_disconnected(conn: Connection, error: Option<String>) {
        H::on_disconnected(&Context::new(conn), error.as_deref());
    }

    fn invoke(caller: Caller, method: String, args: Json) -> Result<Json, WitHubError> {
        let router = ROUTER.get_or_init(H::router);
        let id = caller.id.clone();
        as_caller(Some(&id), || {
            router.dispatch(&Context::from_caller(caller), &method, &args)
        })
        .map_err(Into::into)
    }

    fn invoke_stream(caller: Caller, method: String, args: Json) -> Result<(), WitHubError> {
        let router = ROUTER.get_or_init(H::router);
        let id = caller.id.clone();
        as_caller(Some(&id), || {
            router.dispatch_stream(
                &Context::from_caller(caller),
                &method,
                &args,
                &mut crate::streams::send_item,
            )
        })
        .map_err(Into::into)
    }
}

/// Exports a [`Hub`] as this component's `handler`; write it once, at the
/// top level of the hub's crate: `wasmhub_guest::export_hub!(Chat);`.
#[macro_export]
macro_rules! export_hub {
    ($hub:ty) => {
        const _: () = {
            type WasmhubExport = $crate::__private::Export<$hub>;
    $crate::bindings::export_handler!(WasmhubExport with_types_in $crate::bindings);
        };
    };
}
