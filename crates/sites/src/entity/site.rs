use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "site")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub source: String,
    pub source_id: String,
    pub standard_version: String,
    pub pivot: String,
    pub name: String,
    pub commune: String,
    pub postal_code: String,
    pub insee_code: Option<String>,
    pub department_code: Option<String>,
    pub address: String,
    pub address_complement: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub ban_key: Option<String>,
    pub phone: Option<String>,
    pub emails: Option<String>,
    pub website: Option<String>,
    pub opening_hours: Option<String>,
    pub opening_hours_valid: Option<bool>,
    /// The week form of `opening_hours` (`hours::Week::encode`); `None` when they are absent or unparsable.
    pub opening_week: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub source_label: Option<String>,
    pub parent_structure: Option<String>,
    pub updated_on: Date,
    pub other_labels: Option<String>,
    pub accessibility_url: Option<String>,
    pub booking_url: Option<String>,
    pub search_text: String,
    pub sort_name: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
    /// `import` (a complete feed dropped it) or `api` (a coordinator archived it); `None` when live.
    pub archive_origin: Option<String>,
    pub merged_into: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
