#![doc = include_str!("../README.md")]
// The schema's merged roots (and the `Node` union of every kind) nest deeper than the default limit when the
// compiler lays out the futures that execute them.
#![recursion_limit = "256"]

pub mod ami;
pub mod app;
pub mod auth;
pub mod body;
pub mod browser;
pub mod changes;
pub mod circuit;
pub mod cli;
pub mod config;
pub mod db;
pub mod documents;
pub mod error;
pub mod exports;
pub mod extract;
pub mod health;
pub mod http;
pub mod metrics;
pub mod panic;
pub mod persisted;
pub mod protection;
pub mod state;
pub mod telemetry;
pub mod uploads;
pub mod webhooks;
pub mod ws;

pub use app::build_app;
pub use state::AppState;
