//! `openAt` answered by the database (issue #21, second part of migration 000014).
//!
//! The sites crate parses a site's opening hours once, when the site is written, into their *week form*
//! (`site.opening_week`): a JSON array of `[start, end)` minutes of the week in local time (Monday 00:00 = 0), or
//! `dated` for hours that depend on the date (holidays, months…), which are still evaluated per request, or null
//! when there are no valid hours. Triggers expand the array into `site_opening` rows, whoever writes the site, so
//! that "open at" is an indexed look-up per site. Existing rows get their week form at the next start
//! (`search::ensure_current`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COMMON_UP: &[&str] = &[
    "ALTER TABLE site ADD COLUMN opening_week text",
    "CREATE TABLE site_opening (site_id integer NOT NULL, start_minute integer NOT NULL, \
       end_minute integer NOT NULL)",
    "CREATE INDEX idx_site_opening ON site_opening (site_id, start_minute, end_minute)",
    "CREATE INDEX idx_site_opening_dated ON site (id) WHERE opening_week = 'dated'",
    // Rewritten at the next start, with the week form.
    "DELETE FROM search_index_version",
];

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER site_opening_insert AFTER INSERT ON site BEGIN \
       INSERT INTO site_opening (site_id, start_minute, end_minute) \
         SELECT new.id, json_extract(value, '$[0]'), json_extract(value, '$[1]') \
         FROM json_each(CASE WHEN new.opening_week LIKE '[%' THEN new.opening_week ELSE '[]' END); \
     END",
    "CREATE TRIGGER site_opening_update AFTER UPDATE OF opening_week ON site BEGIN \
       DELETE FROM site_opening WHERE site_id = old.id; \
       INSERT INTO site_opening (site_id, start_minute, end_minute) \
         SELECT new.id, json_extract(value, '$[0]'), json_extract(value, '$[1]') \
         FROM json_each(CASE WHEN new.opening_week LIKE '[%' THEN new.opening_week ELSE '[]' END); \
     END",
    "CREATE TRIGGER site_opening_delete AFTER DELETE ON site BEGIN \
       DELETE FROM site_opening WHERE site_id = old.id; \
     END",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION site_opening_insert() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       INSERT INTO site_opening (site_id, start_minute, end_minute) \
         SELECT n.id, (e->>0)::int, (e->>1)::int FROM site_opening_new n \
         CROSS JOIN LATERAL jsonb_array_elements( \
           CASE WHEN n.opening_week LIKE '[%' THEN n.opening_week::jsonb ELSE '[]'::jsonb END) e; \
       RETURN NULL; \
     END $$",
    "CREATE FUNCTION site_opening_update() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       DELETE FROM site_opening WHERE site_id IN ( \
         SELECT n.id FROM site_opening_new n JOIN site_opening_old o ON o.id = n.id \
         WHERE n.opening_week IS DISTINCT FROM o.opening_week); \
       INSERT INTO site_opening (site_id, start_minute, end_minute) \
         SELECT n.id, (e->>0)::int, (e->>1)::int FROM site_opening_new n \
         JOIN site_opening_old o ON o.id = n.id AND n.opening_week IS DISTINCT FROM o.opening_week \
         CROSS JOIN LATERAL jsonb_array_elements( \
           CASE WHEN n.opening_week LIKE '[%' THEN n.opening_week::jsonb ELSE '[]'::jsonb END) e; \
       RETURN NULL; \
     END $$",
    "CREATE FUNCTION site_opening_delete() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       DELETE FROM site_opening WHERE site_id IN (SELECT id FROM site_opening_old); \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER site_opening_insert AFTER INSERT ON site REFERENCING NEW TABLE AS site_opening_new \
       FOR EACH STATEMENT EXECUTE FUNCTION site_opening_insert()",
    "CREATE TRIGGER site_opening_update AFTER UPDATE ON site \
       REFERENCING OLD TABLE AS site_opening_old NEW TABLE AS site_opening_new \
       FOR EACH STATEMENT EXECUTE FUNCTION site_opening_update()",
    "CREATE TRIGGER site_opening_delete AFTER DELETE ON site REFERENCING OLD TABLE AS site_opening_old \
       FOR EACH STATEMENT EXECUTE FUNCTION site_opening_delete()",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER site_opening_delete",
    "DROP TRIGGER site_opening_update",
    "DROP TRIGGER site_opening_insert",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER site_opening_delete ON site",
    "DROP TRIGGER site_opening_update ON site",
    "DROP TRIGGER site_opening_insert ON site",
    "DROP FUNCTION site_opening_delete()",
    "DROP FUNCTION site_opening_update()",
    "DROP FUNCTION site_opening_insert()",
];

const COMMON_DOWN: &[&str] = &[
    "DROP INDEX idx_site_opening_dated",
    "DROP TABLE site_opening",
    "ALTER TABLE site DROP COLUMN opening_week",
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
        run(manager, COMMON_UP).await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, POSTGRES_UP).await,
            _ => run(manager, SQLITE_UP).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run(manager, POSTGRES_DOWN).await?,
            _ => run(manager, SQLITE_DOWN).await?,
        }
        run(manager, COMMON_DOWN).await
    }
}
