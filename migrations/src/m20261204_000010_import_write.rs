//! Imports that never undo an API edit, archive what a complete feed dropped, and stage their rows.
//!
//! - `site_field_provenance`: where each stored field of a site came from (one row per site and field; the field
//!   `*` stands for every field without a row of its own). `feed_id` and `import_job_id` are plain integers on
//!   purpose: the feed and job tables belong to another migration and their rows may be purged without touching
//!   the history of the values.
//! - `site.archive_origin`: who archived a site (`import` for a complete feed, `api` for a coordinator), so that a
//!   feed restores only what a feed archived.
//! - `site_import_stage`: the rows of an import being prepared, committed in chunks while the API keeps writing;
//!   the import publishes them in one transaction and deletes them, so rows left there belong to an unfinished
//!   import and are discarded.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Site {
    Table,
    Id,
    ArchiveOrigin,
}

#[derive(DeriveIden)]
enum SiteFieldProvenance {
    Table,
    SiteId,
    Field,
    Origin,
    FeedId,
    ImportJobId,
    FileName,
    FileDate,
    RecordSiteId,
    Actor,
    At,
}

#[derive(DeriveIden)]
enum SiteImportStage {
    Table,
    JobKey,
    Seq,
    Payload,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SiteFieldProvenance::Table)
                    .col(integer(SiteFieldProvenance::SiteId))
                    .col(string_len(SiteFieldProvenance::Field, 64))
                    .col(string_len(SiteFieldProvenance::Origin, 16))
                    .col(integer_null(SiteFieldProvenance::FeedId))
                    .col(integer_null(SiteFieldProvenance::ImportJobId))
                    .col(string_null(SiteFieldProvenance::FileName))
                    .col(date_null(SiteFieldProvenance::FileDate))
                    .col(integer_null(SiteFieldProvenance::RecordSiteId))
                    .col(string_null(SiteFieldProvenance::Actor))
                    .col(timestamp_with_time_zone(SiteFieldProvenance::At))
                    .primary_key(
                        Index::create()
                            .col(SiteFieldProvenance::SiteId)
                            .col(SiteFieldProvenance::Field),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_site_field_provenance_site")
                            .from(SiteFieldProvenance::Table, SiteFieldProvenance::SiteId)
                            .to(Site::Table, Site::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Site::Table)
                    .add_column(string_len_null(Site::ArchiveOrigin, 16))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SiteImportStage::Table)
                    .col(string_len(SiteImportStage::JobKey, 64))
                    .col(integer(SiteImportStage::Seq))
                    .col(text(SiteImportStage::Payload))
                    .col(timestamp_with_time_zone(SiteImportStage::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SiteImportStage::JobKey)
                            .col(SiteImportStage::Seq),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SiteImportStage::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Site::Table)
                    .drop_column(Site::ArchiveOrigin)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SiteFieldProvenance::Table).to_owned())
            .await
    }
}
