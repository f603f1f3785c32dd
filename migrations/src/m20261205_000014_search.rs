//! Full-text and near search over sites (issue #21).
//!
//! Both engines index `site.search_text`, the document the sites crate computes in Rust (`<name words> | <other
//! words>`, already normalised), and triggers keep each index in step with it whoever writes the row, API or
//! import:
//! - SQLite: an FTS5 table `site_fts(name, body)` keyed by the site's id, and its `fts5vocab` view
//!   `site_fts_vocab` (the indexed words, for typo tolerance).
//! - PostgreSQL: a stored generated `tsvector` column `site.search_vector` (name words weighted A, the others B)
//!   with a GIN index, and a table `search_term` of the indexed words, filled by statement-level triggers. No
//!   extension is needed: accents, case and plurals are removed before the text reaches the database.
//!
//! Coordinates get an index for the bounding-box prefilter of near search. Rows written before this migration
//! keep their old document (folded name and commune) until the server's next start rewrites it
//! (`search::ensure_current`, recorded in `search_index_version`); until then they are found by name and commune.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Site {
    Table,
    Latitude,
    Longitude,
}

/// Which version of the sites crate's document builder wrote the stored documents: a start-up with a newer one
/// rewrites them (`search::ensure_current`). No row yet: documents of an older form, rewritten at the next start.
const VERSION_TABLE: &str =
    "CREATE TABLE search_index_version (id integer PRIMARY KEY, version integer NOT NULL)";

const SQLITE_UP: &[&str] = &[
    VERSION_TABLE,
    "CREATE VIRTUAL TABLE site_fts USING fts5(name, body, tokenize = 'unicode61')",
    "CREATE VIRTUAL TABLE site_fts_vocab USING fts5vocab(site_fts, 'row')",
    // The name part is before the first '|', the rest after it; an older document without one is all name.
    "CREATE TRIGGER site_fts_insert AFTER INSERT ON site BEGIN \
       INSERT INTO site_fts (rowid, name, body) VALUES (new.id, \
         CASE WHEN instr(new.search_text, '|') > 0 \
           THEN substr(new.search_text, 1, instr(new.search_text, '|') - 1) ELSE new.search_text END, \
         CASE WHEN instr(new.search_text, '|') > 0 \
           THEN substr(new.search_text, instr(new.search_text, '|') + 1) ELSE '' END); \
     END",
    "CREATE TRIGGER site_fts_update AFTER UPDATE OF search_text ON site BEGIN \
       DELETE FROM site_fts WHERE rowid = old.id; \
       INSERT INTO site_fts (rowid, name, body) VALUES (new.id, \
         CASE WHEN instr(new.search_text, '|') > 0 \
           THEN substr(new.search_text, 1, instr(new.search_text, '|') - 1) ELSE new.search_text END, \
         CASE WHEN instr(new.search_text, '|') > 0 \
           THEN substr(new.search_text, instr(new.search_text, '|') + 1) ELSE '' END); \
     END",
    "CREATE TRIGGER site_fts_delete AFTER DELETE ON site BEGIN \
       DELETE FROM site_fts WHERE rowid = old.id; \
     END",
    "INSERT INTO site_fts (rowid, name, body) SELECT id, \
       CASE WHEN instr(search_text, '|') > 0 \
         THEN substr(search_text, 1, instr(search_text, '|') - 1) ELSE search_text END, \
       CASE WHEN instr(search_text, '|') > 0 \
         THEN substr(search_text, instr(search_text, '|') + 1) ELSE '' END \
     FROM site",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER site_fts_delete",
    "DROP TRIGGER site_fts_update",
    "DROP TRIGGER site_fts_insert",
    "DROP TABLE site_fts_vocab",
    "DROP TABLE site_fts",
    "DROP TABLE search_index_version",
];

const POSTGRES_UP: &[&str] = &[
    VERSION_TABLE,
    "ALTER TABLE site ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ( \
       setweight(to_tsvector('simple'::regconfig, split_part(search_text, '|', 1)), 'A') || \
       setweight(to_tsvector('simple'::regconfig, split_part(search_text, '|', 2)), 'B')) STORED",
    "CREATE INDEX idx_site_search_vector ON site USING gin (search_vector)",
    "CREATE TABLE search_term (term text COLLATE \"C\" PRIMARY KEY)",
    // Words are only added: a word no site uses any more costs a row, and a typo widened to it finds nothing.
    "CREATE FUNCTION site_search_terms() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       INSERT INTO search_term (term) \
         SELECT DISTINCT t FROM site_search_new_rows r, unnest(tsvector_to_array(r.search_vector)) AS t \
         ON CONFLICT DO NOTHING; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER site_search_terms_insert AFTER INSERT ON site \
       REFERENCING NEW TABLE AS site_search_new_rows FOR EACH STATEMENT EXECUTE FUNCTION site_search_terms()",
    "CREATE TRIGGER site_search_terms_update AFTER UPDATE ON site \
       REFERENCING NEW TABLE AS site_search_new_rows FOR EACH STATEMENT EXECUTE FUNCTION site_search_terms()",
    "INSERT INTO search_term (term) SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM site \
       ON CONFLICT DO NOTHING",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER site_search_terms_update ON site",
    "DROP TRIGGER site_search_terms_insert ON site",
    "DROP FUNCTION site_search_terms()",
    "DROP TABLE search_term",
    "DROP INDEX idx_site_search_vector",
    "ALTER TABLE site DROP COLUMN search_vector",
    "DROP TABLE search_index_version",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_site_coordinates")
                    .table(Site::Table)
                    .col(Site::Latitude)
                    .col(Site::Longitude)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_site_coordinates")
                    .table(Site::Table)
                    .to_owned(),
            )
            .await?;
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_DOWN,
            _ => SQLITE_DOWN,
        };
        for sql in statements {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
