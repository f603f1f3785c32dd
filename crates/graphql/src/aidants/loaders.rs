//! This domain's loaders: one batched statement per level of a nested query.

use crate::db_loader;
use crate::kit::error::IntoGql;
use async_graphql::dataloader::Loader;
use maillage_aidants::{Aidant, AidantFilter, Organisation, OrganisationFilter, OrganisationId};
use maillage_core::{DepartmentCode, HubId, SiteId};
use maillage_sites::Site;
use maillage_territories::Hub;
use std::collections::HashMap;

db_loader!(
    /// Loads the organisations of each department, for the same filter.
    pub DepartmentOrganisationsLoader,
    /// Loads the aidants of each organisation, for the same filter.
    pub OrganisationAidantsLoader,
    /// Loads organisations by id (an aidant's organisations).
    pub OrganisationLoader,
    /// Loads the sites organisations run (a link to the sites domain, resolved here).
    pub OrganisationSiteLoader,
    /// Loads hubs by id (an aidant's training hub).
    pub TrainingHubLoader,
);

impl Loader<(DepartmentCode, OrganisationFilter)> for DepartmentOrganisationsLoader {
    type Value = Vec<Organisation>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(DepartmentCode, OrganisationFilter)],
    ) -> Result<HashMap<(DepartmentCode, OrganisationFilter), Vec<Organisation>>, Self::Error> {
        let mut groups: HashMap<&OrganisationFilter, Vec<DepartmentCode>> = HashMap::new();
        for (dep, filter) in keys {
            groups.entry(filter).or_default().push(dep.clone());
        }
        let mut out: HashMap<(DepartmentCode, OrganisationFilter), Vec<Organisation>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for (filter, deps) in groups {
            let rows = maillage_aidants::organisations_by_departments(&self.0, &deps, filter)
                .await
                .gql()?;
            for org in rows {
                out.entry((org.data.department.clone(), filter.clone()))
                    .or_default()
                    .push(org);
            }
        }
        Ok(out)
    }
}

impl Loader<(OrganisationId, AidantFilter)> for OrganisationAidantsLoader {
    type Value = Vec<Aidant>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(OrganisationId, AidantFilter)],
    ) -> Result<HashMap<(OrganisationId, AidantFilter), Vec<Aidant>>, Self::Error> {
        let mut groups: HashMap<&AidantFilter, Vec<OrganisationId>> = HashMap::new();
        for (org, filter) in keys {
            groups.entry(filter).or_default().push(*org);
        }
        let mut out: HashMap<(OrganisationId, AidantFilter), Vec<Aidant>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for (filter, orgs) in groups {
            let pairs = maillage_aidants::aidants_by_organisations(&self.0, &orgs, filter)
                .await
                .gql()?;
            for (org, aidant) in pairs {
                out.entry((org, filter.clone())).or_default().push(aidant);
            }
        }
        Ok(out)
    }
}

impl Loader<OrganisationId> for OrganisationLoader {
    type Value = Organisation;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[OrganisationId],
    ) -> Result<HashMap<OrganisationId, Organisation>, Self::Error> {
        let rows = maillage_aidants::organisations_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|o| (o.id, o)).collect())
    }
}

impl Loader<SiteId> for OrganisationSiteLoader {
    type Value = Site;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[SiteId]) -> Result<HashMap<SiteId, Site>, Self::Error> {
        let rows = maillage_sites::sites_by_ids(&self.0, keys).await.gql()?;
        Ok(rows.into_iter().map(|s| (s.id, s)).collect())
    }
}

impl Loader<HubId> for TrainingHubLoader {
    type Value = Hub;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HubId]) -> Result<HashMap<HubId, Hub>, Self::Error> {
        let rows = maillage_territories::hubs_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|h| (h.id, h)).collect())
    }
}
