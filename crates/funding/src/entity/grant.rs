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
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
