use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub occurred_at: DateTimeUtc,
    pub actor_label: String,
    pub actor_role: String,
    pub request_id: Option<String>,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub changes: String,
    pub department_code: Option<String>,
    pub hub_id: Option<i32>,
    pub txid: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
