//! `kobo secrets rotate`: adds a key to one of kobo's key rings and makes it current.
//! Whatever the older keys made (PIN digests, callback URLs, sealed webhook secrets and
//! OTP codes) names its key id and keeps working; warm functions pick the new key up
//! within their secrets TTL, or at once when they meet something made under it.

use anyhow::{anyhow, Context, Result};
use clap::{Subcommand, ValueEnum};
use kobo_shared::platform::secrets::{self, KeyRing};

use super::Conn;

/// Which key ring.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum Purpose {
    /// Transaction-PIN digests.
    PinPepper,
    /// Hubtel callback URLs.
    CallbackKey,
    /// Secrets at rest (webhook signing secrets, pending OTP codes).
    VaultKey,
}

/// Key ring commands.
#[derive(Subcommand, Debug)]
pub enum SecretsCmd {
    /// Add a fresh key to a ring and make it current (the old keys are kept).
    Rotate {
        /// The ring.
        purpose: Purpose,
    },
}

/// Runs a secrets command.
pub async fn secrets_cmd(conn: &Conn, cmd: SecretsCmd) -> Result<()> {
    let SecretsCmd::Rotate { purpose } = cmd;
    let cache = match purpose {
        Purpose::PinPepper => &conn.keys.pin_pepper,
        Purpose::CallbackKey => &conn.keys.callback_key,
        Purpose::VaultKey => &conn.keys.vault_key,
    };
    let id = cache.id().to_string();
    let out =
        conn.secrets_client.get_secret_value().secret_id(&id).send().await.with_context(|| format!("reading {id}"))?;
    let ring: KeyRing = secrets::parse(&id, out.secret_string().unwrap_or_default()).map_err(|e| anyhow!(e))?;
    let kid = ring.next_key_id();
    let rotated = ring.rotated(&kid, &crate::devstack::provision::random_secret(64));
    conn.secrets_client
        .put_secret_value()
        .secret_id(&id)
        .secret_string(rotated.to_json())
        .send()
        .await
        .with_context(|| format!("writing {id}"))?;
    let kept: Vec<&str> = ring.key_ids().collect();
    println!("{id}: key {kid} is current; kept {}", kept.join(", "));
    Ok(())
}
