//! Indexes of the sites the API lists (issue #16): live (`archived_at IS NULL`) and canonical
//! (`merged_into IS NULL`), the condition of every list that is not a mirror's.
//!
//! - `(department_code, sort_name, id)`: a department's page in name order and its `totalCount`, read from the
//!   index alone (`idx_site_department_name` also holds archived and merged rows, so a count had to read the
//!   table to test them: about 900 buffers for one department at 100 000 sites);
//! - `(sort_name, id)`: the national list's first page and its count.
//!
//! Partial indexes exist on both backends with the same syntax.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX idx_site_live_department_name ON site (department_code, sort_name, id) \
       WHERE archived_at IS NULL AND merged_into IS NULL",
    "CREATE INDEX idx_site_live_sort_name ON site (sort_name, id) \
       WHERE archived_at IS NULL AND merged_into IS NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX idx_site_live_sort_name",
    "DROP INDEX idx_site_live_department_name",
];

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
