//! Triggers on `hub` and `hub_department` that announce, on PostgreSQL, each committed change on the channel
//! `maillage_hub_changes` (issue #16).
//!
//! A server keeps which hubs cover each department between requests while it hears these notices
//! (`maillage_territories::DepartmentHubs`), so a site's hubs cost no statement. The triggers fire for every writer
//! (this server's mutations, another instance, the CLI, a statement typed by hand), once per statement, and
//! PostgreSQL delivers a transaction's notices when it commits, never for a rollback. SQLite has no notices: nothing
//! is created there and servers on SQLite read hubs from the database every time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE FUNCTION maillage_announce_hub_change() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         PERFORM pg_notify('maillage_hub_changes', TG_TABLE_NAME);
         RETURN NULL;
     END
     $$",
    "CREATE TRIGGER hub_announce_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hub
     FOR EACH STATEMENT EXECUTE FUNCTION maillage_announce_hub_change()",
    "CREATE TRIGGER hub_department_announce_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hub_department
     FOR EACH STATEMENT EXECUTE FUNCTION maillage_announce_hub_change()",
];

const DOWN: &[&str] = &[
    "DROP TRIGGER hub_department_announce_change ON hub_department",
    "DROP TRIGGER hub_announce_change ON hub",
    "DROP FUNCTION maillage_announce_hub_change()",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
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
