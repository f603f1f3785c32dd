#![allow(
    clippy::too_many_arguments,
    reason = "a resolver's parameters are its GraphQL arguments, and a connection alone takes four (first, after, last, before)"
)]
#![doc = include_str!("../README.md")]
// The merged roots (one object per domain) nest deeper than the default limit when the compiler lays out their futures.
#![recursion_limit = "256"]

pub mod aidants;
pub mod ami;
pub mod audit;
pub mod changes;
pub mod conventions;
pub mod cost;
pub mod counsellors;
pub mod dedup;
pub mod engine;
pub mod federation;
pub mod feeds;
pub mod funding;
pub mod hubs;
pub mod kit;
pub mod node;
pub mod nul;
pub mod schema;
pub mod sites;
pub mod statistics;
pub mod telemetry;
pub mod territories;
pub mod tokens;

pub use engine::{MaillageEngine, build_engine};
pub use kit::RequestState;
pub use schema::{MaillageSchema, MutationRoot, QueryRoot, SchemaLimits, sdl};
