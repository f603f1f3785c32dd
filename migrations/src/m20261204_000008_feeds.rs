//! Feeds and import jobs: a feed is a named source of sites (owned by a hub, or national when it has none) with its
//! mapping and its policy; an import job is one file sent to a feed, with its status, progress, counts and the
//! report of its rows. API tokens can also be pending hub-coordinator invitations for an AMI laureate's account.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hub {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    InvitedSubject,
}

#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)] // `feed_wins` is the column's name: frozen identifiers follow the columns.
enum Feed {
    Table,
    Id,
    Slug,
    Name,
    Source,
    HubId,
    Mapping,
    MappingToml,
    Complete,
    FeedWins,
    MaxArchiveShare,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ImportJob {
    Table,
    Id,
    FeedId,
    FileName,
    FilePath,
    Status,
    RowsDone,
    RowsTotal,
    Created,
    Updated,
    Unchanged,
    Rejected,
    Corrected,
    Error,
    CreatedBy,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum ImportJobLine {
    Table,
    Id,
    JobId,
    Location,
    SourceId,
    Outcome,
    Field,
    Reason,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Feed::Table)
                    .col(pk_auto(Feed::Id))
                    .col(string_len_uniq(Feed::Slug, 64))
                    .col(string(Feed::Name))
                    .col(string_len_uniq(Feed::Source, 64))
                    .col(integer_null(Feed::HubId))
                    .col(string_len_null(Feed::Mapping, 64))
                    .col(text_null(Feed::MappingToml))
                    .col(boolean(Feed::Complete).default(false))
                    .col(boolean(Feed::FeedWins).default(false))
                    .col(double(Feed::MaxArchiveShare).default(0.2))
                    .col(integer(Feed::Version).default(1))
                    .col(timestamp_with_time_zone(Feed::CreatedAt))
                    .col(timestamp_with_time_zone(Feed::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_feed_hub")
                            .from(Feed::Table, Feed::HubId)
                            .to(Hub::Table, Hub::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_feed_hub")
                    .table(Feed::Table)
                    .col(Feed::HubId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ImportJob::Table)
                    .col(pk_auto(ImportJob::Id))
                    .col(integer(ImportJob::FeedId))
                    .col(string(ImportJob::FileName))
                    .col(string_len(ImportJob::FilePath, 1024))
                    .col(string_len(ImportJob::Status, 16))
                    .col(big_integer(ImportJob::RowsDone).default(0))
                    .col(big_integer_null(ImportJob::RowsTotal))
                    .col(big_integer(ImportJob::Created).default(0))
                    .col(big_integer(ImportJob::Updated).default(0))
                    .col(big_integer(ImportJob::Unchanged).default(0))
                    .col(big_integer(ImportJob::Rejected).default(0))
                    .col(big_integer(ImportJob::Corrected).default(0))
                    .col(text_null(ImportJob::Error))
                    .col(string(ImportJob::CreatedBy))
                    .col(timestamp_with_time_zone(ImportJob::CreatedAt))
                    .col(timestamp_with_time_zone_null(ImportJob::StartedAt))
                    .col(timestamp_with_time_zone_null(ImportJob::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_job_feed")
                            .from(ImportJob::Table, ImportJob::FeedId)
                            .to(Feed::Table, Feed::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_import_job_feed")
                    .table(ImportJob::Table)
                    .col(ImportJob::FeedId)
                    .col(ImportJob::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_import_job_status")
                    .table(ImportJob::Table)
                    .col(ImportJob::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ImportJobLine::Table)
                    .col(pk_auto(ImportJobLine::Id))
                    .col(integer(ImportJobLine::JobId))
                    .col(string_len(ImportJobLine::Location, 32))
                    .col(string_null(ImportJobLine::SourceId))
                    .col(string_len(ImportJobLine::Outcome, 32))
                    .col(string(ImportJobLine::Field))
                    .col(text(ImportJobLine::Reason))
                    .col(text_null(ImportJobLine::Detail))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_import_job_line_job")
                            .from(ImportJobLine::Table, ImportJobLine::JobId)
                            .to(ImportJob::Table, ImportJob::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_import_job_line_job")
                    .table(ImportJobLine::Table)
                    .col(ImportJobLine::JobId)
                    .col(ImportJobLine::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiToken::Table)
                    .add_column(string_null(ApiToken::InvitedSubject))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiToken::Table)
                    .drop_column(ApiToken::InvitedSubject)
                    .to_owned(),
            )
            .await?;
        for table in [
            ImportJobLine::Table.into_iden(),
            ImportJob::Table.into_iden(),
            Feed::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
