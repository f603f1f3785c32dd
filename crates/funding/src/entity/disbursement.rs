use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "funding_disbursement")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub grant_id: i32,
    pub amount_cents: i64,
    pub paid_on: Date,
    pub reference: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
