//! The SMM service catalog and the VTU catalog in the table.

use super::item::{n, Key, Reader, Record, Writer};
use super::keys;
use super::table::{Change, Query};
use super::Store;
use crate::domain::smm::Service;
use crate::domain::vtu::{FaceProduct, VtuCatalog, VtuPlan, VtuRoute};
use crate::error::StoreError;

fn service_key(id: u64) -> Key {
    Key::new(keys::SERVICE_PK, keys::service_sk(id))
}

impl Record for Service {
    const TYPE: &'static str = "service";
    fn key(&self) -> Key {
        service_key(self.id)
    }
    fn write(&self, w: Writer) -> Writer {
        w.n("service_id", self.id)
            .s("name", &self.name)
            .s("kind", &self.kind)
            .s("category", &self.category)
            .s("upstream_service", &self.upstream_service)
            .kobo("cost_per_1000", self.cost_per_1000)
            .kobo("rate_per_1000", self.rate_per_1000)
            .n("min", self.min)
            .n("max", self.max)
            .bool("refill", self.refill)
            .bool("cancel", self.cancel)
            .bool("enabled", self.enabled)
            .bool("dripfeed", self.dripfeed)
    }
    fn read(r: &Reader<'_>) -> Result<Service, StoreError> {
        Ok(Service {
            id: r.u64("service_id")?,
            name: r.s("name")?,
            kind: r.opt_s("kind")?.unwrap_or_else(|| "Default".into()),
            category: r.opt_s("category")?.unwrap_or_default(),
            upstream_service: r.s("upstream_service")?,
            cost_per_1000: r.kobo("cost_per_1000")?,
            rate_per_1000: r.kobo("rate_per_1000")?,
            min: r.u64("min")?,
            max: r.u64("max")?,
            refill: r.bool("refill")?,
            cancel: r.bool("cancel")?,
            enabled: r.bool("enabled")?,
            dripfeed: r.bool("dripfeed")?,
        })
    }
}

impl Record for VtuPlan {
    const TYPE: &'static str = "vtu_plan";
    fn key(&self) -> Key {
        Key::new(keys::VTU_CATALOG_PK, keys::vtu_plan_sk(self.id))
    }
    fn write(&self, w: Writer) -> Writer {
        w.n("plan_id", self.id)
            .s("category", self.category.as_str())
            .s("service", &self.service)
            .s("name", &self.name)
            .s("validity", &self.validity)
            .kobo("base", self.base)
            .kobo("profit", self.profit)
            .s("provider_code", &self.provider_code)
    }
    fn read(r: &Reader<'_>) -> Result<VtuPlan, StoreError> {
        Ok(VtuPlan {
            id: r.u64("plan_id")?,
            category: r.word("category", |c| c.parse().ok())?,
            service: r.s("service")?,
            name: r.s("name")?,
            validity: r.opt_s("validity")?.unwrap_or_default(),
            base: r.kobo("base")?,
            profit: r.kobo("profit")?,
            provider_code: r.s("provider_code")?,
        })
    }
}

impl Record for VtuRoute {
    const TYPE: &'static str = "vtu_route";
    fn key(&self) -> Key {
        Key::new(keys::VTU_CATALOG_PK, keys::vtu_route_sk(self.category.as_str(), &self.service))
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("category", self.category.as_str()).s("service", &self.service).list("providers", &self.providers)
    }
    fn read(r: &Reader<'_>) -> Result<VtuRoute, StoreError> {
        Ok(VtuRoute {
            category: r.word("category", |c| c.parse().ok())?,
            service: r.s("service")?,
            providers: r.str_list("providers")?,
        })
    }
}

impl Record for FaceProduct {
    const TYPE: &'static str = "vtu_face";
    fn key(&self) -> Key {
        Key::new(keys::VTU_CATALOG_PK, keys::vtu_face_sk(self.category.as_str(), &self.service))
    }
    fn write(&self, w: Writer) -> Writer {
        w.s("category", self.category.as_str())
            .s("service", &self.service)
            .s("name", &self.name)
            .n("base_bp", self.base_bp)
            .n("profit_bp", self.profit_bp)
            .kobo("min", self.min)
            .kobo("max", self.max)
            .kobo("step", self.step)
    }
    fn read(r: &Reader<'_>) -> Result<FaceProduct, StoreError> {
        Ok(FaceProduct {
            category: r.word("category", |c| c.parse().ok())?,
            service: r.s("service")?,
            name: r.s("name")?,
            base_bp: r.u32_or("base_bp", 0)?,
            profit_bp: r.u32_or("profit_bp", 0)?,
            min: r.kobo("min")?,
            max: r.kobo("max")?,
            step: r.kobo("step")?,
        })
    }
}

/// Which cached catalog a write changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catalog {
    /// SMM services.
    Smm,
    /// VTU plans and face-value products.
    Vtu,
    /// API access plans (prices, discounts, limits).
    Plans,
}

impl Catalog {
    const fn field(self) -> &'static str {
        match self {
            Catalog::Smm => "smm",
            Catalog::Vtu => "vtu",
            Catalog::Plans => "plans",
        }
    }
}

/// The catalogs' versions as one read saw them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogVersions {
    /// SMM services.
    pub smm: u64,
    /// VTU catalog.
    pub vtu: u64,
    /// Plans.
    pub plans: u64,
}

impl CatalogVersions {
    /// The key of the versions item (read with the key and account).
    pub fn key() -> Key {
        Key::new(keys::CATALOG_VERSION_PK, keys::CATALOG_VERSION_SK)
    }

    /// Whether `item` is the versions item.
    pub fn is(item: &super::item::Item) -> bool {
        item.get("PK").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(keys::CATALOG_VERSION_PK)
    }

    /// The versions an item holds (0 for a counter never bumped).
    pub fn read(item: &super::item::Item) -> Result<CatalogVersions, StoreError> {
        let r = Reader::new(item);
        let v = |f: &str| r.opt_i64(f).map(|x| u64::try_from(x.unwrap_or(0)).unwrap_or(0));
        Ok(CatalogVersions { smm: v("smm")?, vtu: v("vtu")?, plans: v("plans")? })
    }

    /// The version of one catalog.
    pub fn of(&self, c: Catalog) -> u64 {
        match c {
            Catalog::Smm => self.smm,
            Catalog::Vtu => self.vtu,
            Catalog::Plans => self.plans,
        }
    }
}

impl Store {
    /// Tells every container's cache of `c` that it changed (after the write).
    pub async fn bump_catalog(&self, c: Catalog) -> Result<(), StoreError> {
        self.update(&CatalogVersions::key(), Change::new().add(c.field(), n(1))).await.map(drop)
    }

    /// The catalogs' versions now (for paths that did not read them in their wave).
    pub async fn catalog_versions(&self) -> Result<CatalogVersions, StoreError> {
        match self.get_item(&CatalogVersions::key(), true).await? {
            Some(item) => CatalogVersions::read(&item),
            None => Ok(CatalogVersions::default()),
        }
    }

    /// Creates or replaces a service.
    pub async fn put_service(&self, service: &Service) -> Result<(), StoreError> {
        self.put(service.to_item()).await?;
        self.bump_catalog(Catalog::Smm).await
    }

    /// One service.
    pub async fn get_service(&self, id: u64) -> Result<Option<Service>, StoreError> {
        self.get_item(&service_key(id), false).await?.as_ref().map(Service::from_item).transpose()
    }

    /// The whole catalog, by id.
    pub async fn services(&self) -> Result<Vec<Service>, StoreError> {
        self.query_records(&Query::partition(keys::SERVICE_PK)).await
    }

    /// Stores a VTU plan.
    pub async fn put_vtu_plan(&self, p: &VtuPlan) -> Result<(), StoreError> {
        self.put(p.to_item()).await?;
        self.bump_catalog(Catalog::Vtu).await
    }

    /// Stores a face-value product.
    pub async fn put_face_product(&self, f: &FaceProduct) -> Result<(), StoreError> {
        self.put(f.to_item()).await?;
        self.bump_catalog(Catalog::Vtu).await
    }

    /// Sets a route (the catalog's version moves, so every container sees it at once).
    pub async fn put_vtu_route(&self, r: &VtuRoute) -> Result<(), StoreError> {
        self.put(r.to_item()).await?;
        self.bump_catalog(Catalog::Vtu).await
    }

    /// Enables or disables provider `name` for routing (the catalog's version moves when
    /// it changes); whether it changed.
    pub async fn set_provider_disabled(&self, name: &str, disabled: bool) -> Result<bool, StoreError> {
        let key = Key::new(keys::VTU_CATALOG_PK, keys::vtu_provider_sk(name));
        let change = crate::db::table::Change::new()
            .set("type", super::item::s("vtu_provider"))
            .set("provider", super::item::s(name))
            .set("disabled", aws_sdk_dynamodb::types::AttributeValue::Bool(disabled))
            .if_expr(
                "attribute_not_exists({disabled}) OR {disabled} <> :want",
                &["disabled"],
                vec![(":want", aws_sdk_dynamodb::types::AttributeValue::Bool(disabled))],
            );
        let changed = self.transition(&key, change).await?;
        if changed {
            self.bump_catalog(Catalog::Vtu).await?;
        }
        Ok(changed)
    }

    /// Every provider's stored state: (name, disabled, low, float in kobo, read at).
    pub async fn provider_states(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut out = Vec::new();
        for item in self.query(&Query::partition(keys::VTU_CATALOG_PK).prefix("PROVIDER#")).await? {
            let s = |f: &str| item.get(f).and_then(|v| v.as_s().ok()).cloned();
            let b = |f: &str| item.get(f).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
            let n = |f: &str| item.get(f).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok());
            out.push(serde_json::json!({
                "provider": s("provider"),
                "disabled": b("disabled"),
                "low": b("low"),
                "float": n("float").map(|k| crate::Kobo::new(k).to_string()),
                "float_read_at": n("float_read_at"),
            }));
        }
        Ok(out)
    }

    /// Flags provider `name`'s float low or not (the catalog's version moves only when the
    /// flag changes, so every container's routes see it at once); whether it changed.
    pub async fn set_provider_low(&self, name: &str, low: bool) -> Result<bool, StoreError> {
        let key = Key::new(keys::VTU_CATALOG_PK, keys::vtu_provider_sk(name));
        let change = crate::db::table::Change::new()
            .set("type", super::item::s("vtu_provider"))
            .set("provider", super::item::s(name))
            .set("low", aws_sdk_dynamodb::types::AttributeValue::Bool(low))
            .if_expr(
                "attribute_not_exists({low}) OR {low} <> :want",
                &["low"],
                vec![(":want", aws_sdk_dynamodb::types::AttributeValue::Bool(low))],
            );
        let changed = self.transition(&key, change).await?;
        if changed {
            self.bump_catalog(Catalog::Vtu).await?;
        }
        Ok(changed)
    }

    /// Records provider `name`'s float as read at `at` (unix seconds); the low flag is
    /// left as it is.
    pub async fn record_float(&self, name: &str, balance: crate::Kobo, at: i64) -> Result<(), StoreError> {
        let key = Key::new(keys::VTU_CATALOG_PK, keys::vtu_provider_sk(name));
        let change = crate::db::table::Change::new()
            .set("type", super::item::s("vtu_provider"))
            .set("provider", super::item::s(name))
            .set("float", super::item::n(balance.as_i64()))
            .set("float_read_at", super::item::n(at));
        self.update(&key, change).await.map(drop)
    }

    /// The whole VTU catalog (one Query, every page).
    pub async fn vtu_catalog(&self) -> Result<VtuCatalog, StoreError> {
        let mut cat = VtuCatalog::default();
        for item in self.query(&Query::partition(keys::VTU_CATALOG_PK)).await? {
            match item.get("type").and_then(|t| t.as_s().ok()).map(String::as_str) {
                Some(VtuPlan::TYPE) => cat.plans.push(VtuPlan::from_item(&item)?),
                Some(FaceProduct::TYPE) => cat.faces.push(FaceProduct::from_item(&item)?),
                Some(VtuRoute::TYPE) => cat.routes.push(VtuRoute::from_item(&item)?),
                Some("vtu_provider") => {
                    let flag = |f: &str| item.get(f).and_then(|v| v.as_bool().ok()) == Some(&true);
                    if let Some(name) = item.get("provider").and_then(|v| v.as_s().ok()) {
                        if flag("low") {
                            cat.low.push(name.clone());
                        }
                        if flag("disabled") {
                            cat.disabled.push(name.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        cat.plans.sort_by_key(|p| p.id);
        Ok(cat)
    }
}
