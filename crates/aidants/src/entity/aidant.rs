use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "aidant")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub profession: Option<String>,
    pub status: String,
    pub requested_on: Option<Date>,
    pub trained_on: Option<Date>,
    pub training_hub_id: Option<i32>,
    pub authorised_on: Option<Date>,
    pub revoked_on: Option<Date>,
    pub counsellor_id: Option<i32>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
