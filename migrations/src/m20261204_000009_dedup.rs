//! Cross-source deduplication: candidate pairs of source records with their score, reasons and review status;
//! canonical sites (a row of `site` per confirmed cluster, members pointing at it through `site.merged_into`); and
//! the fields a coordinator chose for a canonical site.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Site {
    Table,
    Id,
    MergedInto,
}

#[derive(DeriveIden)]
enum SiteMatch {
    Table,
    Id,
    SiteA,
    SiteB,
    Score,
    Reasons,
    Status,
    DepartmentA,
    DepartmentB,
    DecidedBy,
    DecidedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SiteOverride {
    Table,
    SiteId,
    Field,
    Value,
    Actor,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No foreign key on `merged_into`: SQLite cannot add one to an existing table, and the dedup service is the
        // only writer of the column.
        manager
            .alter_table(
                Table::alter()
                    .table(Site::Table)
                    .add_column(integer_null(Site::MergedInto))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_site_merged_into")
                    .table(Site::Table)
                    .col(Site::MergedInto)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SiteMatch::Table)
                    .col(pk_auto(SiteMatch::Id))
                    .col(integer(SiteMatch::SiteA))
                    .col(integer(SiteMatch::SiteB))
                    .col(double(SiteMatch::Score))
                    .col(text(SiteMatch::Reasons))
                    .col(string_len(SiteMatch::Status, 16))
                    .col(string_len_null(SiteMatch::DepartmentA, 3))
                    .col(string_len_null(SiteMatch::DepartmentB, 3))
                    .col(string_null(SiteMatch::DecidedBy))
                    .col(timestamp_with_time_zone_null(SiteMatch::DecidedAt))
                    .col(timestamp_with_time_zone(SiteMatch::CreatedAt))
                    .col(timestamp_with_time_zone(SiteMatch::UpdatedAt))
                    .check(Expr::col(SiteMatch::SiteA).lt(Expr::col(SiteMatch::SiteB)))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_site_match_a")
                            .from(SiteMatch::Table, SiteMatch::SiteA)
                            .to(Site::Table, Site::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_site_match_b")
                            .from(SiteMatch::Table, SiteMatch::SiteB)
                            .to(Site::Table, Site::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One row per pair, ever: a rejected pair keeps its row, so matching again finds it and leaves it rejected.
        manager
            .create_index(
                Index::create()
                    .name("uq_site_match_pair")
                    .table(SiteMatch::Table)
                    .col(SiteMatch::SiteA)
                    .col(SiteMatch::SiteB)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_site_match_b")
                    .table(SiteMatch::Table)
                    .col(SiteMatch::SiteB)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_site_match_status_score")
                    .table(SiteMatch::Table)
                    .col(SiteMatch::Status)
                    .col(SiteMatch::Score)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SiteOverride::Table)
                    .col(integer(SiteOverride::SiteId))
                    .col(string_len(SiteOverride::Field, 32))
                    .col(text_null(SiteOverride::Value))
                    .col(string(SiteOverride::Actor))
                    .col(timestamp_with_time_zone(SiteOverride::At))
                    .primary_key(
                        Index::create()
                            .col(SiteOverride::SiteId)
                            .col(SiteOverride::Field),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_site_override_site")
                            .from(SiteOverride::Table, SiteOverride::SiteId)
                            .to(Site::Table, Site::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SiteOverride::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SiteMatch::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_site_merged_into")
                    .table(Site::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Site::Table)
                    .drop_column(Site::MergedInto)
                    .to_owned(),
            )
            .await
    }
}
