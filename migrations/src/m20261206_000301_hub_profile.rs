//! Hub profiles: the people coordinating a hub, and the indicators a hub (or the whole network of hubs) reports,
//! with every value ever reported kept as a revision.

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
    Id,
}

#[derive(DeriveIden)]
enum HubCoordinator {
    Table,
    Id,
    HubId,
    Name,
    Title,
    Email,
    Phone,
    ApiTokenId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HubIndicator {
    Table,
    Id,
    HubId,
    HubKey,
    Code,
    Name,
    Value,
    Unit,
    ObservedOn,
    Source,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HubIndicatorRevision {
    Table,
    Id,
    IndicatorId,
    Name,
    Value,
    Unit,
    ObservedOn,
    Source,
    Version,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HubCoordinator::Table)
                    .col(pk_auto(HubCoordinator::Id))
                    .col(integer(HubCoordinator::HubId))
                    .col(string(HubCoordinator::Name))
                    .col(string_null(HubCoordinator::Title))
                    .col(string_null(HubCoordinator::Email))
                    .col(string_null(HubCoordinator::Phone))
                    .col(integer_null(HubCoordinator::ApiTokenId))
                    .col(timestamp_with_time_zone(HubCoordinator::CreatedAt))
                    .col(timestamp_with_time_zone(HubCoordinator::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hub_coordinator_hub")
                            .from(HubCoordinator::Table, HubCoordinator::HubId)
                            .to(Hub::Table, Hub::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hub_coordinator_api_token")
                            .from(HubCoordinator::Table, HubCoordinator::ApiTokenId)
                            .to(ApiToken::Table, ApiToken::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_hub_coordinator_hub")
                    .table(HubCoordinator::Table)
                    .col(HubCoordinator::HubId)
                    .to_owned(),
            )
            .await?;
        // `hub_id` null: an indicator of the whole network of hubs (the national figures of the BdT). `hub_key` is the
        // hub id or 0 for the network, so one unique index keeps one indicator per code on both backends (NULLs
        // are distinct in a unique index).
        manager
            .create_table(
                Table::create()
                    .table(HubIndicator::Table)
                    .col(pk_auto(HubIndicator::Id))
                    .col(integer_null(HubIndicator::HubId))
                    .col(integer(HubIndicator::HubKey))
                    .col(string_len(HubIndicator::Code, 100))
                    .col(string(HubIndicator::Name))
                    .col(double(HubIndicator::Value))
                    .col(string_len(HubIndicator::Unit, 100))
                    .col(date(HubIndicator::ObservedOn))
                    .col(string_len(HubIndicator::Source, 500))
                    .col(integer(HubIndicator::Version).default(1))
                    .col(timestamp_with_time_zone(HubIndicator::CreatedAt))
                    .col(timestamp_with_time_zone(HubIndicator::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hub_indicator_hub")
                            .from(HubIndicator::Table, HubIndicator::HubId)
                            .to(Hub::Table, Hub::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_hub_indicator_hub_key_code")
                    .table(HubIndicator::Table)
                    .col(HubIndicator::HubKey)
                    .col(HubIndicator::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubIndicatorRevision::Table)
                    .col(pk_auto(HubIndicatorRevision::Id))
                    .col(integer(HubIndicatorRevision::IndicatorId))
                    .col(string(HubIndicatorRevision::Name))
                    .col(double(HubIndicatorRevision::Value))
                    .col(string_len(HubIndicatorRevision::Unit, 100))
                    .col(date(HubIndicatorRevision::ObservedOn))
                    .col(string_len(HubIndicatorRevision::Source, 500))
                    .col(integer(HubIndicatorRevision::Version))
                    .col(timestamp_with_time_zone(HubIndicatorRevision::RecordedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hub_indicator_revision_indicator")
                            .from(
                                HubIndicatorRevision::Table,
                                HubIndicatorRevision::IndicatorId,
                            )
                            .to(HubIndicator::Table, HubIndicator::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_hub_indicator_revision_indicator")
                    .table(HubIndicatorRevision::Table)
                    .col(HubIndicatorRevision::IndicatorId)
                    .col(HubIndicatorRevision::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            HubIndicatorRevision::Table.into_iden(),
            HubIndicator::Table.into_iden(),
            HubCoordinator::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
