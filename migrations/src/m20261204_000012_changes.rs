//! The change feed and webhooks.
//!
//! The audit log already holds one row per committed write of each entity, written in the write's transaction, so it
//! is the change feed: this migration only gives it a commit-safe order. On PostgreSQL, identity values are taken
//! before commit, so row 11 can be visible while row 10 is still in flight; a reader that moved its cursor past 11
//! would skip 10 forever. Each row is therefore stamped with its transaction id (`txid`, `pg_current_xact_id()`), the
//! feed is ordered by `(txid, id)` and readers stop below the oldest transaction still running
//! (`pg_snapshot_xmin(pg_current_snapshot())`): every row below that bound is final, and every row that may still
//! appear lies above it. SQLite serialises writers, so `id` order is commit order and `txid` stays 0.
//!
//! Also: `(updated_at, id)` indexes for incremental sync on every listed table, and the webhook tables.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Txid,
    Id,
}

#[derive(DeriveIden)]
enum Webhook {
    Table,
    Id,
    Name,
    Url,
    Secret,
    OwnerLabel,
    OwnerRole,
    HubId,
    EntityTypes,
    Departments,
    CursorTxid,
    CursorId,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Id,
    WebhookId,
    FirstTxid,
    FirstId,
    LastTxid,
    LastId,
    ChangeCount,
    Body,
    Status,
    Attempts,
    NextAttemptAt,
    LastStatusCode,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum Hub {
    Table,
    Id,
}

/// The tables listed with `updatedSince`, each getting an `(updated_at, id)` index named `idx_<table>_updated`.
const SYNCED_TABLES: [&str; 8] = [
    "site",
    "host_structure",
    "counsellor",
    "aidants_organisation",
    "aidant",
    "funding_grant",
    "funding_envelope",
    "ami_application",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .add_column(big_integer(AuditLog::Txid).default(0))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            // The default does the stamping, so no write path can forget it (xid8 as text fits a bigint).
            manager
                .get_connection()
                .execute_unprepared(
                    "ALTER TABLE audit_log ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint)",
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_txid_id")
                    .table(AuditLog::Table)
                    .col(AuditLog::Txid)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        for table in SYNCED_TABLES {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_{table}_updated"))
                        .table(Alias::new(table))
                        .col(Alias::new("updated_at"))
                        .col(Alias::new("id"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Webhook::Table)
                    .col(pk_auto(Webhook::Id))
                    .col(string(Webhook::Name))
                    .col(text(Webhook::Url))
                    .col(string_len(Webhook::Secret, 64))
                    .col(string(Webhook::OwnerLabel))
                    .col(string_len(Webhook::OwnerRole, 32))
                    .col(integer_null(Webhook::HubId))
                    .col(text(Webhook::EntityTypes))
                    .col(text(Webhook::Departments))
                    .col(big_integer(Webhook::CursorTxid))
                    .col(integer(Webhook::CursorId))
                    .col(boolean(Webhook::Active))
                    .col(timestamp_with_time_zone(Webhook::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_hub")
                            .from(Webhook::Table, Webhook::HubId)
                            .to(Hub::Table, Hub::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDelivery::Table)
                    .col(pk_auto(WebhookDelivery::Id))
                    .col(integer(WebhookDelivery::WebhookId))
                    .col(big_integer(WebhookDelivery::FirstTxid))
                    .col(integer(WebhookDelivery::FirstId))
                    .col(big_integer(WebhookDelivery::LastTxid))
                    .col(integer(WebhookDelivery::LastId))
                    .col(integer(WebhookDelivery::ChangeCount))
                    .col(text(WebhookDelivery::Body))
                    .col(string_len(WebhookDelivery::Status, 16))
                    .col(integer(WebhookDelivery::Attempts))
                    .col(timestamp_with_time_zone_null(
                        WebhookDelivery::NextAttemptAt,
                    ))
                    .col(integer_null(WebhookDelivery::LastStatusCode))
                    .col(text_null(WebhookDelivery::LastError))
                    .col(timestamp_with_time_zone(WebhookDelivery::CreatedAt))
                    .col(timestamp_with_time_zone_null(WebhookDelivery::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_delivery_webhook")
                            .from(WebhookDelivery::Table, WebhookDelivery::WebhookId)
                            .to(Webhook::Table, Webhook::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_delivery_webhook")
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::WebhookId)
                    .col(WebhookDelivery::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDelivery::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Webhook::Table).to_owned())
            .await?;
        for table in SYNCED_TABLES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_{table}_updated"))
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_audit_log_txid_id")
                    .table(AuditLog::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .drop_column(AuditLog::Txid)
                    .to_owned(),
            )
            .await
    }
}
