//! API tokens, the audit trail, and archiving of sites.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hub {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Site {
    Table,
    ArchivedAt,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    Name,
    Role,
    HubId,
    TokenHash,
    Prefix,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    OccurredAt,
    ActorLabel,
    ActorRole,
    RequestId,
    EntityType,
    EntityId,
    Action,
    Changes,
    DepartmentCode,
    HubId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiToken::Table)
                    .col(pk_auto(ApiToken::Id))
                    .col(string(ApiToken::Name))
                    .col(string_len(ApiToken::Role, 32))
                    .col(integer_null(ApiToken::HubId))
                    .col(string_len_uniq(ApiToken::TokenHash, 64))
                    .col(string_len(ApiToken::Prefix, 16))
                    .col(timestamp_with_time_zone(ApiToken::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiToken::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiToken::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_token_hub")
                            .from(ApiToken::Table, ApiToken::HubId)
                            .to(Hub::Table, Hub::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_auto(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::OccurredAt))
                    .col(string(AuditLog::ActorLabel))
                    .col(string_len(AuditLog::ActorRole, 32))
                    .col(string_null(AuditLog::RequestId))
                    .col(string_len(AuditLog::EntityType, 64))
                    .col(string(AuditLog::EntityId))
                    .col(string_len(AuditLog::Action, 64))
                    .col(text(AuditLog::Changes))
                    .col(string_len_null(AuditLog::DepartmentCode, 3))
                    .col(integer_null(AuditLog::HubId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_entity")
                    .table(AuditLog::Table)
                    .col(AuditLog::EntityType)
                    .col(AuditLog::EntityId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_department")
                    .table(AuditLog::Table)
                    .col(AuditLog::DepartmentCode)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Site::Table)
                    .add_column(timestamp_with_time_zone_null(Site::ArchivedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Site::Table)
                    .drop_column(Site::ArchivedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiToken::Table).to_owned())
            .await
    }
}
