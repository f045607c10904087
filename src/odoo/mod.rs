//! odoo: the Odoo protocol, one definition for everyone who speaks it. `wire` is the JSON-RPC
//! format in both directions (the stand-in answers with it); `transport` is the HTTP exchange
//! behind a trait (hyper, or a script in tests); `client` turns exchanges into Odoo terms:
//! calls, the login, the version, pages with their redirects, and failures as bounded kinds.

pub mod client;
pub mod error;
pub mod record;
pub mod transport;
pub mod wire;

pub use client::{
    MAX_REDIRECTS, OdooClient, Page, PageExchange, PageRequest, RpcExchange, RpcOutcome,
    UserSession, parse_target,
};
pub use error::{ErrorKind, Failure};
pub use wire::ServerVersion;
