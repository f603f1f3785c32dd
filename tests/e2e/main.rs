//! End-to-end tests: the HTTP API as a client sees it, and the `maillage` command line as an operator uses it.
//!
//! Each test gets its own database (SQLite by default; a fresh PostgreSQL database when `TEST_DATABASE_URL` is
//! set) and, where it needs one, its own server on a free port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aidants;
mod ami;
mod brief;
mod changes;
mod cli;
mod counsellors;
mod dedup;
mod exports;
mod federation;
mod feeds;
mod feeds_write;
mod funding;
mod graphql;
mod http;
mod hubs;
mod node;
mod ops;
mod persisted;
mod protection;
mod search;
mod site_counts;
mod site_lists;
mod statistics;
mod support;
mod versions;
mod write;
