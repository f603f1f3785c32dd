use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "funding_rule")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub host_kind: String,
    pub department_code: Option<String>,
    pub amount_per_post_cents: i64,
    pub training_cents: i64,
    pub kit_cents: i64,
    pub certification_cents: i64,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
    pub source: String,
    pub scheme: String,
    pub salary_reference: Option<String>,
    pub salary_share_pct: Option<i32>,
    pub salary_years: Option<i32>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
