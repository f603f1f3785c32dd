#![doc = include_str!("../README.md")]

pub mod ami;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod persisted;
pub mod protection;

pub use app::{AppState, build_app};
