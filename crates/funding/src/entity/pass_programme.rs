use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pass_programme")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub collectivite: String,
    pub department_code: Option<String>,
    pub amount_cents: i64,
    pub vouchers_issued: i64,
    pub vouchers_used: i64,
    pub envelope_id: Option<i32>,
    pub signed_on: Option<Date>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
