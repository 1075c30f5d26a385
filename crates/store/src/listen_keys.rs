//! The listenKeys of the user data streams: who a key belongs to, what it
//! was asked with (its holder) and until when it lives.
//!
//! One live key per holder (`key:<api key id>` or `session:<session id>`):
//! a repeated create returns it and extends it, as Binance does per API
//! key. A key past `expires_at` is dead: keepalive and close answer
//! `false`, and the next create of its holder replaces it.

use crate::codec::{get_i64, get_str, get_u64, id};
use crate::error::{unique_as, Result, StoreError};
use crate::Store;
use sqlx::any::AnyRow;

/// A listenKey row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenKey {
    pub listen_key: String,
    pub user_id: u64,
    pub holder: String,
    pub created_at: i64,
    /// Ms since the Unix epoch; the key is live while `now < expires_at`.
    pub expires_at: i64,
}

impl ListenKey {
    /// Whether the key is live at `now`.
    pub fn live_at(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

/// A create request: the candidate key (used only if the holder has no
/// live key) and the per-user cap on live keys.
pub struct NewListenKey<'a> {
    pub listen_key: &'a str,
    pub user_id: u64,
    pub holder: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub max_per_user: u64,
}

/// What a create did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The holder's live key, now extended to the new expiry.
    Reused(ListenKey),
    /// The candidate, stored.
    Created(ListenKey),
    /// The user already holds `max_per_user` live keys.
    LimitReached,
}

const COLUMNS: &str = "listen_key, user_id, holder, created_at, expires_at";

fn from_row(row: &AnyRow) -> Result<ListenKey> {
    Ok(ListenKey {
        listen_key: get_str(row, "listen_key")?,
        user_id: get_u64(row, "user_id")?,
        holder: get_str(row, "holder")?,
        created_at: get_i64(row, "created_at")?,
        expires_at: get_i64(row, "expires_at")?,
    })
}

impl Store {
    /// The holder's live key, extended, or the candidate stored as its new
    /// one (see [`Opened`]).
    pub async fn open_listen_key(&self, new: &NewListenKey<'_>) -> Result<Opened> {
        // A concurrent create of the same holder may win the insert: then
        // its key is the holder's, and the second round reuses it.
        for _ in 0..2 {
            if let Some(key) = self.extend_holder_key(new).await? {
                return Ok(Opened::Reused(key));
            }
            let user = id("user id", new.user_id)?;
            sqlx::query("DELETE FROM listen_keys WHERE user_id = $1 AND expires_at <= $2")
                .bind(user)
                .bind(new.now)
                .execute(self.pool())
                .await?;
            let row = sqlx::query("SELECT COUNT(*) AS n FROM listen_keys WHERE user_id = $1")
                .bind(user)
                .fetch_one(self.pool())
                .await?;
            if u64::try_from(get_i64(&row, "n")?).unwrap_or(u64::MAX) >= new.max_per_user {
                return Ok(Opened::LimitReached);
            }
            let inserted = sqlx::query(
                "INSERT INTO listen_keys (listen_key, user_id, holder, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(new.listen_key)
            .bind(user)
            .bind(new.holder)
            .bind(new.now)
            .bind(new.expires_at)
            .execute(self.pool())
            .await
            .map_err(|e| {
                unique_as(
                    e,
                    StoreError::Duplicate {
                        entity: "listen key",
                    },
                )
            });
            match inserted {
                Ok(_) => {
                    return Ok(Opened::Created(ListenKey {
                        listen_key: new.listen_key.to_string(),
                        user_id: new.user_id,
                        holder: new.holder.to_string(),
                        created_at: new.now,
                        expires_at: new.expires_at,
                    }))
                }
                Err(StoreError::Duplicate { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Duplicate {
            entity: "listen key",
        })
    }

    async fn extend_holder_key(&self, new: &NewListenKey<'_>) -> Result<Option<ListenKey>> {
        let done = sqlx::query(
            "UPDATE listen_keys SET expires_at = $3 \
             WHERE holder = $1 AND user_id = $2 AND expires_at > $4",
        )
        .bind(new.holder)
        .bind(id("user id", new.user_id)?)
        .bind(new.expires_at)
        .bind(new.now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM listen_keys WHERE holder = $1");
        sqlx::query(&sql)
            .bind(new.holder)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Extends `user_id`'s live key to `expires_at`; `false` if there is
    /// no such live key (unknown, someone else's, expired or closed).
    pub async fn keep_listen_key_alive(
        &self,
        listen_key: &str,
        user_id: u64,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE listen_keys SET expires_at = $3 \
             WHERE listen_key = $1 AND user_id = $2 AND expires_at > $4",
        )
        .bind(listen_key)
        .bind(id("user id", user_id)?)
        .bind(expires_at)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes `user_id`'s key; `false` if it had no such live key (an
    /// expired one is removed all the same).
    pub async fn close_listen_key(&self, listen_key: &str, user_id: u64, now: i64) -> Result<bool> {
        let sql =
            format!("SELECT {COLUMNS} FROM listen_keys WHERE listen_key = $1 AND user_id = $2");
        let user = id("user id", user_id)?;
        let Some(row) = sqlx::query(&sql)
            .bind(listen_key)
            .bind(user)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(false);
        };
        let key = from_row(&row)?;
        sqlx::query("DELETE FROM listen_keys WHERE listen_key = $1 AND user_id = $2")
            .bind(listen_key)
            .bind(user)
            .execute(self.pool())
            .await?;
        Ok(key.live_at(now))
    }

    /// The key's row, live or not.
    pub async fn listen_key(&self, listen_key: &str) -> Result<Option<ListenKey>> {
        let sql = format!("SELECT {COLUMNS} FROM listen_keys WHERE listen_key = $1");
        sqlx::query(&sql)
            .bind(listen_key)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }
}
