use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ami_application")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub campaign_id: i32,
    pub owner: String,
    pub status: String,
    pub hub_name: String,
    pub carrier_name: String,
    pub carrier_siret: String,
    pub carrier_legal_form: String,
    #[sea_orm(column_type = "Text")]
    pub consortium: String,
    pub qpv: bool,
    pub acv: bool,
    #[sea_orm(column_type = "Text")]
    pub action_programme: String,
    #[sea_orm(column_type = "Text")]
    pub budget: String,
    pub amount_requested_cents: i64,
    #[sea_orm(column_type = "Text")]
    pub co_funding: String,
    #[sea_orm(column_type = "Text")]
    pub governance: String,
    pub submitted_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub changes_requested: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub decision_reason: Option<String>,
    pub awarded_cents: Option<i64>,
    pub hub_id: Option<i32>,
    pub grant_id: Option<i32>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
