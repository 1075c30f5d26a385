//! API keys: the public key string, the sealed secret and what the key may do.

use crate::codec::{get_i64, get_opt_i64, get_str, get_u64, hex_decode, hex_encode, id};
use crate::error::{unique_as, Result, StoreError};
use crate::Store;
use sqlx::any::AnyRow;

/// An API key row. `Debug` leaves out the sealed secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: u64,
    pub user_id: u64,
    /// The public key string clients send in `X-MBX-APIKEY`.
    pub api_key: String,
    /// The secret sealed by the auth service (AES-256-GCM), as bytes.
    pub secret_sealed: Vec<u8>,
    pub label: String,
    /// As the auth service wrote it, e.g. `READ,TRADE`.
    pub permissions: String,
    /// Comma-separated CIDRs; empty = any address.
    pub ip_allow: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("label", &self.label)
            .field("permissions", &self.permissions)
            .field("ip_allow", &self.ip_allow)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

pub struct NewApiKey<'a> {
    pub user_id: u64,
    pub api_key: &'a str,
    pub secret_sealed: &'a [u8],
    pub label: &'a str,
    pub permissions: &'a str,
    pub ip_allow: &'a str,
    pub now: i64,
}

const COLUMNS: &str = "id, user_id, api_key, secret_sealed, label, permissions, ip_allow, \
                       created_at, last_used_at, deleted_at";

fn key_from_row(row: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: get_u64(row, "id")?,
        user_id: get_u64(row, "user_id")?,
        api_key: get_str(row, "api_key")?,
        secret_sealed: hex_decode("secret_sealed", &get_str(row, "secret_sealed")?)?,
        label: get_str(row, "label")?,
        permissions: get_str(row, "permissions")?,
        ip_allow: get_str(row, "ip_allow")?,
        created_at: get_i64(row, "created_at")?,
        last_used_at: get_opt_i64(row, "last_used_at")?,
        deleted_at: get_opt_i64(row, "deleted_at")?,
    })
}

impl Store {
    /// Stores a new key; [`StoreError::Duplicate`] if the key string exists.
    pub async fn create_api_key(&self, new: &NewApiKey<'_>) -> Result<ApiKey> {
        let key_id = self.next_id("api_keys").await?;
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, api_key, secret_sealed, label, permissions, \
             ip_allow, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id("api key id", key_id)?)
        .bind(id("user id", new.user_id)?)
        .bind(new.api_key)
        .bind(hex_encode(new.secret_sealed))
        .bind(new.label)
        .bind(new.permissions)
        .bind(new.ip_allow)
        .bind(new.now)
        .execute(self.pool())
        .await
        .map_err(|e| unique_as(e, StoreError::Duplicate { entity: "api key" }))?;
        self.api_key_by_id(key_id)
            .await?
            .ok_or(StoreError::NotFound { entity: "api key" })
    }

    async fn api_key_by_id(&self, key_id: u64) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
        sqlx::query(&sql)
            .bind(id("api key id", key_id)?)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()
    }

    /// The live (not deleted) key with this key string.
    pub async fn api_key(&self, api_key: &str) -> Result<Option<ApiKey>> {
        let sql =
            format!("SELECT {COLUMNS} FROM api_keys WHERE api_key = $1 AND deleted_at IS NULL");
        sqlx::query(&sql)
            .bind(api_key)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()
    }

    /// Live keys of a user, oldest first.
    pub async fn list_api_keys(&self, user_id: u64) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at, id"
        );
        sqlx::query(&sql)
            .bind(id("user id", user_id)?)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    /// Deletes a key of `user_id` (soft: the row stays for the audit trail),
    /// and the listenKey it made (its streams end). `false` if no such live
    /// key belongs to that user.
    pub async fn delete_api_key(&self, user_id: u64, key_id: u64, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET deleted_at = $3 \
             WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        )
        .bind(id("api key id", key_id)?)
        .bind(id("user id", user_id)?)
        .bind(now)
        .execute(self.pool())
        .await;
        self.credentials_changed(user_id);
        let done = done?;
        if done.rows_affected() == 1 {
            sqlx::query("DELETE FROM listen_keys WHERE holder = $1")
                .bind(format!("key:{key_id}"))
                .execute(self.pool())
                .await?;
        }
        Ok(done.rows_affected() == 1)
    }

    /// Deletes every live key of a user, and the listenKeys they made;
    /// returns how many keys.
    pub async fn delete_user_api_keys(&self, user_id: u64, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE api_keys SET deleted_at = $2 WHERE user_id = $1 AND deleted_at IS NULL",
        )
        .bind(id("user id", user_id)?)
        .bind(now)
        .execute(self.pool())
        .await;
        self.credentials_changed(user_id);
        let done = done?;
        sqlx::query("DELETE FROM listen_keys WHERE user_id = $1 AND holder LIKE 'key:%'")
            .bind(id("user id", user_id)?)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a use of the key (best effort bookkeeping for the key list).
    pub async fn touch_api_key(&self, key_id: u64, now: i64) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(id("api key id", key_id)?)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
