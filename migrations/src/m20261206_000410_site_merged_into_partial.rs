//! `idx_site_merged_into` holds only the merged rows (`WHERE merged_into IS NOT NULL`), issue #16.
//!
//! Every list asks for canonical sites, `merged_into IS NULL`. SQLite's planner, which has no statistics (Maillage
//! never runs `ANALYZE`), took that term as an equality look-up in the whole-column index and preferred it to the
//! live indexes (`idx_site_live_sort_name`, `idx_site_live_department_name`): it then read every canonical site
//! (nearly all of them) and sorted them for a page of 20, about 40 ms at 100 000 sites. A partial index without
//! the NULLs cannot serve `IS NULL`, so the live indexes are walked; the look-ups of a canonical site's members
//! (`merged_into = ?`, `IN (…)`) still use it, since both engines prove that a comparison implies `IS NOT NULL`.
//! It is also much smaller: few sites are merged.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "DROP INDEX idx_site_merged_into",
    "CREATE INDEX idx_site_merged_into ON site (merged_into) WHERE merged_into IS NOT NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX idx_site_merged_into",
    "CREATE INDEX idx_site_merged_into ON site (merged_into)",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on both backends (sea-orm runs SQLite migrations without one): the index is dropped and
    /// created again under the same name, and on a SQLite pool two statements may run on two connections, the
    /// second one with a schema cached before the first, where the index still exists ("index … already exists":
    /// SQLite re-reads a stale schema for a missing name, not for a name that is taken).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
