//! Endpoint management, shared by the operator CLI and (later) the developer portal.

use crate::db::Store;
use crate::domain::event::EventType;
use crate::domain::signing::new_secret;
use crate::domain::time::{now_rfc3339, now_unix};
use crate::domain::webhook::Endpoint;
use crate::flows::accounts::OpsError;
use crate::platform::ssrf::{check_url, TargetPolicy};
use crate::platform::vault::Vault;

/// Most endpoints one account may have.
pub const MAX_ENDPOINTS: usize = 10;

/// Creates an endpoint; returns it and its secret, which is shown this once.
pub async fn create_endpoint(
    store: &Store,
    vault: &Vault,
    account_id: &str,
    url: &str,
    events: Vec<EventType>,
    policy: TargetPolicy,
) -> Result<(Endpoint, String), OpsError> {
    check_url(url, policy).map_err(OpsError::Invalid)?;
    if events.is_empty() {
        return Err(OpsError::Invalid("subscribe to at least one event".into()));
    }
    if store.get_account(account_id).await?.is_none() {
        return Err(OpsError::Invalid(format!("account {account_id} does not exist")));
    }
    if store.endpoints(account_id).await?.len() >= MAX_ENDPOINTS {
        return Err(OpsError::Invalid(format!("an account may have at most {MAX_ENDPOINTS} endpoints")));
    }
    let secret = new_secret().map_err(OpsError::Invalid)?;
    let mut ep = Endpoint {
        account_id: account_id.to_string(),
        id: format!("ep_{}", uuid::Uuid::now_v7().simple()),
        url: url.trim().to_string(),
        events,
        active: true,
        disabled_reason: None,
        secret_sealed: String::new(),
        old_secret_sealed: None,
        old_secret_until: None,
        created_at: now_rfc3339(),
    };
    ep.secret_sealed = vault.seal(&secret, &ep.vault_context()).map_err(|e| OpsError::Invalid(e.to_string()))?;
    store.put_endpoint(&ep).await?;
    Ok((ep, secret))
}

async fn load(store: &Store, account_id: &str, endpoint_id: &str) -> Result<Endpoint, OpsError> {
    store
        .get_endpoint(account_id, endpoint_id)
        .await?
        .ok_or_else(|| OpsError::Invalid(format!("no endpoint {endpoint_id} for account {account_id}")))
}

/// Replaces the secret; the old one keeps signing (in `webhook-signature`) for
/// `grace_secs`. Returns the new secret, shown this once.
pub async fn rotate_secret(
    store: &Store,
    vault: &Vault,
    account_id: &str,
    endpoint_id: &str,
    grace_secs: i64,
) -> Result<String, OpsError> {
    let mut ep = load(store, account_id, endpoint_id).await?;
    let secret = new_secret().map_err(OpsError::Invalid)?;
    let sealed = vault.seal(&secret, &ep.vault_context()).map_err(|e| OpsError::Invalid(e.to_string()))?;
    if grace_secs > 0 {
        ep.old_secret_sealed = Some(std::mem::replace(&mut ep.secret_sealed, sealed));
        ep.old_secret_until = Some(now_unix() + grace_secs);
    } else {
        ep.secret_sealed = sealed;
        ep.old_secret_sealed = None;
        ep.old_secret_until = None;
    }
    store.replace_endpoint(&ep).await?;
    Ok(secret)
}

/// Turns deliveries to an endpoint on or off.
pub async fn set_active(
    store: &Store,
    account_id: &str,
    endpoint_id: &str,
    active: bool,
) -> Result<Endpoint, OpsError> {
    let mut ep = load(store, account_id, endpoint_id).await?;
    ep.active = active;
    ep.disabled_reason = if active { None } else { Some("disabled by the owner".into()) };
    store.replace_endpoint(&ep).await?;
    Ok(ep)
}
