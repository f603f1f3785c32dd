//! Funding that adds up: salary-based rules and the dated reference salaries they use, grants tied to the rule and
//! the beneficiary they were checked against (with their real decision, signature and closing dates and any
//! override of the computed amount), envelope targets, Pass numérique programmes committed in an envelope, and dated
//! voucher movements.
//!
//! Columns are added one `ALTER TABLE` at a time (SQLite accepts one change per statement); `down` drops them the
//! same way (SQLite ≥ 3.35 drops columns).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FundingRule {
    Table,
    Scheme,
    SalaryReference,
    SalarySharePct,
    SalaryYears,
}

#[derive(DeriveIden)]
enum FundingReferenceSalary {
    Table,
    Id,
    Code,
    ValidFrom,
    MonthlyCents,
    Source,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FundingGrant {
    Table,
    HostKind,
    FundedPostsRef,
    RuleId,
    ContractYears,
    ExpectedAmountCents,
    OverrideReason,
    DecisionDate,
    SignedOn,
    ClosedOn,
}

#[derive(DeriveIden)]
enum FundingEnvelope {
    Table,
    TargetKind,
    TargetCount,
}

#[derive(DeriveIden)]
enum PassProgramme {
    Table,
    Id,
    EnvelopeId,
    SignedOn,
}

#[derive(DeriveIden)]
enum PassVoucherMovement {
    Table,
    Id,
    ProgrammeId,
    Issued,
    Used,
    MovedOn,
    CreatedAt,
}

fn added() -> Vec<(DynIden, ColumnDef)> {
    vec![
        (
            FundingRule::Table.into_iden(),
            string_len(FundingRule::Scheme, 16)
                .default("fixed")
                .to_owned(),
        ),
        (
            FundingRule::Table.into_iden(),
            string_len_null(FundingRule::SalaryReference, 16),
        ),
        (
            FundingRule::Table.into_iden(),
            integer_null(FundingRule::SalarySharePct),
        ),
        (
            FundingRule::Table.into_iden(),
            integer_null(FundingRule::SalaryYears),
        ),
        (
            FundingGrant::Table.into_iden(),
            string_len_null(FundingGrant::HostKind, 16),
        ),
        (
            FundingGrant::Table.into_iden(),
            string_len_null(FundingGrant::FundedPostsRef, 64),
        ),
        (
            FundingGrant::Table.into_iden(),
            integer_null(FundingGrant::RuleId),
        ),
        (
            FundingGrant::Table.into_iden(),
            integer_null(FundingGrant::ContractYears),
        ),
        (
            FundingGrant::Table.into_iden(),
            big_integer_null(FundingGrant::ExpectedAmountCents),
        ),
        (
            FundingGrant::Table.into_iden(),
            text_null(FundingGrant::OverrideReason),
        ),
        (
            FundingGrant::Table.into_iden(),
            date_null(FundingGrant::DecisionDate),
        ),
        (
            FundingGrant::Table.into_iden(),
            date_null(FundingGrant::SignedOn),
        ),
        (
            FundingGrant::Table.into_iden(),
            date_null(FundingGrant::ClosedOn),
        ),
        (
            FundingEnvelope::Table.into_iden(),
            string_len_null(FundingEnvelope::TargetKind, 16),
        ),
        (
            FundingEnvelope::Table.into_iden(),
            big_integer_null(FundingEnvelope::TargetCount),
        ),
        (
            PassProgramme::Table.into_iden(),
            integer_null(PassProgramme::EnvelopeId),
        ),
        (
            PassProgramme::Table.into_iden(),
            date_null(PassProgramme::SignedOn),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, mut column) in added() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(FundingReferenceSalary::Table)
                    .col(pk_auto(FundingReferenceSalary::Id))
                    .col(string_len(FundingReferenceSalary::Code, 16))
                    .col(date(FundingReferenceSalary::ValidFrom))
                    .col(big_integer(FundingReferenceSalary::MonthlyCents))
                    .col(string(FundingReferenceSalary::Source))
                    .col(timestamp_with_time_zone(FundingReferenceSalary::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_funding_reference_salary_code_from")
                    .table(FundingReferenceSalary::Table)
                    .col(FundingReferenceSalary::Code)
                    .col(FundingReferenceSalary::ValidFrom)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PassVoucherMovement::Table)
                    .col(pk_auto(PassVoucherMovement::Id))
                    .col(integer(PassVoucherMovement::ProgrammeId))
                    .col(big_integer(PassVoucherMovement::Issued))
                    .col(big_integer(PassVoucherMovement::Used))
                    .col(date(PassVoucherMovement::MovedOn))
                    .col(timestamp_with_time_zone(PassVoucherMovement::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pass_voucher_movement_programme")
                            .from(PassVoucherMovement::Table, PassVoucherMovement::ProgrammeId)
                            .to(PassProgramme::Table, PassProgramme::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_pass_voucher_movement_programme")
                    .table(PassVoucherMovement::Table)
                    .col(PassVoucherMovement::ProgrammeId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PassVoucherMovement::Table).to_owned())
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(FundingReferenceSalary::Table)
                    .to_owned(),
            )
            .await?;
        for (table, column) in added().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(column.get_column_name())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
