//! `idx_site_value_site_kind_value`: a site's values of one kind, read from the index alone (issue #16).
//!
//! Statistics grouped by a multi-valued dimension (`[DEPARTMENT, SERVICE]` for a hub's dashboard) join each counted
//! site to its values of one kind. The primary key `(site_id, kind, position)` finds them but not their `value`, so
//! SQLite, which has no statistics, preferred the covering `idx_site_value_kind_value` and walked every value of the
//! kind in the country (about 200 000 service rows at 100 000 sites) to keep the hub's few. With
//! `(site_id, kind, value)` the join from the filtered sites is one covering look-up per site (SQLite is told to
//! start from the sites, see `maillage_sites::statistics`); PostgreSQL chooses it by itself for small scopes (one
//! department) and keeps its hash join for larger ones.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] =
    &["CREATE INDEX idx_site_value_site_kind_value ON site_value (site_id, kind, value)"];

const DOWN: &[&str] = &["DROP INDEX idx_site_value_site_kind_value"];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
