#![doc = include_str!("../README.md")]

pub mod ami;
pub mod app;
pub mod auth;
pub mod browser;
pub mod changes;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod exports;
pub mod extract;
pub mod health;
pub mod http;
pub mod metrics;
pub mod persisted;
pub mod protection;
pub mod state;
pub mod telemetry;
pub mod uploads;
pub mod webhooks;

pub use app::build_app;
pub use state::AppState;
