use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "funding_grant")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub envelope_id: i32,
    pub beneficiary_kind: String,
    pub beneficiary_ref: String,
    pub beneficiary_name: String,
    pub contact: Option<String>,
    pub hub_id: Option<i32>,
    pub department_code: Option<String>,
    pub region_code: Option<String>,
    pub amount_cents: i64,
    pub posts: i32,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    pub status: String,
    pub signed_at: Option<DateTimeUtc>,
    pub host_kind: Option<String>,
    pub funded_posts_ref: Option<String>,
    pub rule_id: Option<i32>,
    pub contract_years: Option<i32>,
    pub expected_amount_cents: Option<i64>,
    pub override_reason: Option<String>,
    pub decision_date: Option<Date>,
    pub signed_on: Option<Date>,
    pub closed_on: Option<Date>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
