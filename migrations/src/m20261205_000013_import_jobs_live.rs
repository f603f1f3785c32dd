//! Imports that go faster on PostgreSQL and jobs that several server instances can share.
//!
//! - `site_import_stage` becomes `UNLOGGED` on PostgreSQL: staged rows are scratch data that must not survive a
//!   crash anyway (an import that did not publish is discarded), so they need no write-ahead log. A crash empties
//!   the table, which is exactly the rollback an unfinished import needs. Its payload becomes `jsonb` there: the
//!   `COPY` that stages a row parses it once, and publishing reads it with set-based statements. SQLite has no
//!   such modes.
//! - `import_job.heartbeat_at`: the process running a job renews it every few seconds. A starting instance fails
//!   only the jobs whose heartbeat is older than the lease, never a job another live instance is running.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ImportJob {
    Table,
    HeartbeatAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ImportJob::Table)
                    .add_column(timestamp_with_time_zone_null(ImportJob::HeartbeatAt))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE site_import_stage SET UNLOGGED")
                .await?;
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE site_import_stage ALTER COLUMN payload TYPE jsonb USING payload::jsonb",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE site_import_stage ALTER COLUMN payload TYPE text USING payload::text",
                )
                .await?;
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE site_import_stage SET LOGGED")
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ImportJob::Table)
                    .drop_column(ImportJob::HeartbeatAt)
                    .to_owned(),
            )
            .await
    }
}
