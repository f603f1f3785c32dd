use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "counsellor")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub external_id: String,
    pub structure_id: i32,
    pub post_id: Option<i32>,
    pub department_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub personal_email: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub recruited_on: Option<Date>,
    pub training_started_on: Option<Date>,
    pub active_since: Option<Date>,
    pub ended_on: Option<Date>,
    pub contract_type: Option<String>,
    pub contract_start: Option<Date>,
    pub contract_end: Option<Date>,
    pub training_completed_on: Option<Date>,
    pub pix_certified: bool,
    pub host_share: i32,
    pub is_coordinator: bool,
    pub coordinator_id: Option<i32>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
