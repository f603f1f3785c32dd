//! Counsellor status history: one row per period a counsellor spent in a status (recruited, in training, active,
//! contract ended), so that "counsellors active per month" is a `COUNT` over dated periods instead of a guess from
//! the current status.
//!
//! A period runs from `started_on` (included) to `ended_on` (excluded: the day the next period started; `NULL`:
//! still in it). The domain (`crates/counsellors/src/history.rs`) writes them when a status changes; this
//! migration backfills them from the dates each counsellor already carries (`recruited_on`,
//! `training_started_on`, `active_since`, `ended_on`), each stage up to the current status ending when the next
//! dated one began. A current status without its date starts on the day the row was created.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CounsellorStatusPeriod {
    Table,
    Id,
    CounsellorId,
    Status,
    StartedOn,
    EndedOn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Counsellor {
    Table,
    Id,
}

/// The stages in programme order, with the column holding the day each began.
const STAGES: [(&str, &str); 4] = [
    ("recruited", "recruited_on"),
    ("in_training", "training_started_on"),
    ("active", "active_since"),
    ("contract_ended", "ended_on"),
];

/// One `INSERT … SELECT` per stage: the counsellors whose status reached it and who have its date (or whose current
/// status it is), ending at the next stage's date.
fn backfill(backend: DbBackend) -> Vec<String> {
    let created_day = match backend {
        DbBackend::Postgres => "CAST(created_at AS DATE)",
        _ => "SUBSTR(created_at, 1, 10)",
    };
    let rank = "(CASE status WHEN 'recruited' THEN 0 WHEN 'in_training' THEN 1 WHEN 'active' THEN 2 ELSE 3 END)";
    STAGES
        .iter()
        .enumerate()
        .map(|(i, (status, column))| {
            // The next dated stage, else the creation day (a one-argument COALESCE is refused by SQLite).
            let mut later: Vec<&str> = STAGES[i + 1..].iter().map(|(_, c)| *c).collect();
            later.push(created_day);
            let next = if later.len() == 1 {
                created_day.to_owned()
            } else {
                format!("COALESCE({})", later.join(", "))
            };
            format!(
                "INSERT INTO counsellor_status_period (counsellor_id, status, started_on, ended_on, created_at) \
                 SELECT id, '{status}', COALESCE({column}, {created_day}), \
                 CASE WHEN status = '{status}' THEN NULL ELSE {next} END, created_at \
                 FROM counsellor WHERE {rank} >= {i} AND ({column} IS NOT NULL OR status = '{status}')"
            )
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CounsellorStatusPeriod::Table)
                    .col(pk_auto(CounsellorStatusPeriod::Id))
                    .col(integer(CounsellorStatusPeriod::CounsellorId))
                    .col(string_len(CounsellorStatusPeriod::Status, 32))
                    .col(date(CounsellorStatusPeriod::StartedOn))
                    .col(date_null(CounsellorStatusPeriod::EndedOn))
                    .col(timestamp_with_time_zone(CounsellorStatusPeriod::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                CounsellorStatusPeriod::Table,
                                CounsellorStatusPeriod::CounsellorId,
                            )
                            .to(Counsellor::Table, Counsellor::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_counsellor_status_period_counsellor")
                    .table(CounsellorStatusPeriod::Table)
                    .col(CounsellorStatusPeriod::CounsellorId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_counsellor_status_period_status")
                    .table(CounsellorStatusPeriod::Table)
                    .col(CounsellorStatusPeriod::Status)
                    .col(CounsellorStatusPeriod::StartedOn)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in backfill(manager.get_database_backend()) {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(CounsellorStatusPeriod::Table)
                    .to_owned(),
            )
            .await
    }
}
