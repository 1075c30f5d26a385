//! Users, TOTP state and TOTP backup codes.

use crate::codec::{get_bool, get_i64, get_opt_str, get_opt_u64, get_str, get_u64, id};
use crate::error::{unique_as, Result, StoreError};
use crate::Store;
use sqlx::any::AnyRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A user row. `Debug` leaves out the password hash and TOTP secret.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    /// Lower-cased.
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub frozen: bool,
    /// As the auth service stored it (sealed); set at enrolment, before
    /// `totp_enabled` turns on at confirmation.
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    /// Last TOTP time step accepted.
    pub totp_last_step: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the owner last chose the password (at creation, then at each
    /// change; a rehash does not count), ms since the Unix epoch.
    pub password_changed_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("frozen", &self.frozen)
            .field("totp_enabled", &self.totp_enabled)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

pub struct NewUser<'a> {
    /// Any case; stored lower-cased.
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub now: i64,
}

/// The form in which emails are stored and looked up: lower-cased (Unicode
/// lower case, done in Rust so that both databases agree).
pub fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

// BOOLEAN columns are read through CAST: sqlx's Any driver refuses a
// column whose SQLite declared type is BOOLEAN (see the crate docs).
const USER_COLUMNS: &str = "id, email, password_hash, role, CAST(frozen AS INTEGER) AS frozen, \
                            totp_secret, CAST(totp_enabled AS INTEGER) AS totp_enabled, \
                            totp_last_step, created_at, updated_at, password_changed_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    let role = get_str(row, "role")?;
    Ok(User {
        id: get_u64(row, "id")?,
        email: get_str(row, "email")?,
        password_hash: get_str(row, "password_hash")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::corrupt("role", role))?,
        frozen: get_bool(row, "frozen")?,
        totp_secret: get_opt_str(row, "totp_secret")?,
        totp_enabled: get_bool(row, "totp_enabled")?,
        totp_last_step: get_opt_u64(row, "totp_last_step")?,
        created_at: get_i64(row, "created_at")?,
        updated_at: get_i64(row, "updated_at")?,
        password_changed_at: get_i64(row, "password_changed_at")?,
    })
}

fn user_not_found() -> StoreError {
    StoreError::NotFound { entity: "user" }
}

impl Store {
    /// Creates a user; [`StoreError::EmailTaken`] if the email exists in any case.
    pub async fn create_user(&self, new: &NewUser<'_>) -> Result<User> {
        let user_id = self.next_id("users").await?;
        let email = normalize_email(new.email);
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, role, frozen, totp_enabled, \
             created_at, updated_at, password_changed_at) \
             VALUES ($1, $2, $3, $4, FALSE, FALSE, $5, $5, $5)",
        )
        .bind(id("user id", user_id)?)
        .bind(&email)
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .bind(new.now)
        .execute(self.pool())
        .await
        .map_err(|e| unique_as(e, StoreError::EmailTaken))?;
        self.user_by_id(user_id).await?.ok_or_else(user_not_found)
    }

    /// Whether `user_id` exists and has the admin role now: services check
    /// it besides the token's claim, so a demoted admin loses access at once
    /// rather than when the access token expires.
    pub async fn is_admin(&self, user_id: u64) -> Result<bool> {
        Ok(self
            .user_by_id(user_id)
            .await?
            .is_some_and(|u| u.role == Role::Admin))
    }

    pub async fn user_by_id(&self, user_id: u64) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        sqlx::query(&sql)
            .bind(id("user id", user_id)?)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// Looks a user up by email in any case.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        sqlx::query(&sql)
            .bind(normalize_email(email))
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// Users in id order after `after_id`, at most `limit` (capped at 1000).
    pub async fn list_users(&self, after_id: Option<u64>, limit: u32) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
        sqlx::query(&sql)
            .bind(id("user id", after_id.unwrap_or(0))?)
            .bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    pub async fn set_password_hash(&self, user_id: u64, hash: &str, now: i64) -> Result<()> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id("user id", user_id)?)
                .bind(hash)
                .bind(now)
                .execute(self.pool())
                .await?;
        found(done.rows_affected())
    }

    /// A password the owner chose: the hash and `password_changed_at`
    /// (what [`set_password_hash`](Self::set_password_hash), a rehash of
    /// the same password, leaves alone).
    pub async fn set_password(&self, user_id: u64, hash: &str, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id("user id", user_id)?)
        .bind(hash)
        .bind(now)
        .execute(self.pool())
        .await;
        self.credentials_changed(user_id);
        found(done?.rows_affected())
    }

    pub async fn set_role(&self, user_id: u64, role: Role, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
            .bind(id("user id", user_id)?)
            .bind(role.as_str())
            .bind(now)
            .execute(self.pool())
            .await;
        self.credentials_changed(user_id);
        found(done?.rows_affected())
    }

    pub async fn set_frozen(&self, user_id: u64, frozen: bool, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE users SET frozen = $2, updated_at = $3 WHERE id = $1")
            .bind(id("user id", user_id)?)
            .bind(frozen)
            .bind(now)
            .execute(self.pool())
            .await;
        self.credentials_changed(user_id);
        found(done?.rows_affected())
    }

    /// Stores a pending TOTP secret (enrolment); 2FA stays off until
    /// [`Store::enable_totp`].
    pub async fn set_totp_secret(&self, user_id: u64, secret: &str, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET totp_secret = $2, totp_enabled = FALSE, totp_last_step = NULL, \
             updated_at = $3 WHERE id = $1",
        )
        .bind(id("user id", user_id)?)
        .bind(secret)
        .bind(now)
        .execute(self.pool())
        .await?;
        found(done.rows_affected())
    }

    /// Rewrites the stored TOTP secret text without touching `totp_enabled`
    /// or `totp_last_step` (the auth service keeps a pending re-enrolment
    /// next to the active secret, so 2FA stays on until the new one is
    /// confirmed).
    pub async fn update_totp_secret(&self, user_id: u64, secret: &str, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE users SET totp_secret = $2, updated_at = $3 WHERE id = $1")
            .bind(id("user id", user_id)?)
            .bind(secret)
            .bind(now)
            .execute(self.pool())
            .await?;
        found(done.rows_affected())
    }

    /// Turns 2FA on (after the enrolment code was confirmed).
    pub async fn enable_totp(&self, user_id: u64, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET totp_enabled = TRUE, updated_at = $2 \
             WHERE id = $1 AND totp_secret IS NOT NULL",
        )
        .bind(id("user id", user_id)?)
        .bind(now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                entity: "pending TOTP secret",
            });
        }
        Ok(())
    }

    /// Turns 2FA off: clears the secret, the last step and the backup codes.
    pub async fn disable_totp(&self, user_id: u64, now: i64) -> Result<()> {
        let uid = id("user id", user_id)?;
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_enabled = FALSE, totp_last_step = NULL, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(uid)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(user_not_found());
        }
        sqlx::query("DELETE FROM totp_backup_codes WHERE user_id = $1")
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accepts TOTP time step `step` for the user if it is later than the
    /// last accepted one, atomically: `false` means replay (the same or an
    /// older step), so a code is never accepted twice, even concurrently.
    pub async fn accept_totp_step(&self, user_id: u64, step: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $2 \
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(id("user id", user_id)?)
        .bind(id("TOTP step", step)?)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces all backup codes of a user by `code_hashes`.
    pub async fn replace_backup_codes(
        &self,
        user_id: u64,
        code_hashes: &[String],
        now: i64,
    ) -> Result<()> {
        let uid = id("user id", user_id)?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM totp_backup_codes WHERE user_id = $1")
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        for hash in code_hashes {
            sqlx::query(
                "INSERT INTO totp_backup_codes (user_id, code_hash, created_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(uid)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                unique_as(
                    e,
                    StoreError::Duplicate {
                        entity: "backup code",
                    },
                )
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks an unused backup code used; `false` if it is unknown or used.
    pub async fn use_backup_code(&self, user_id: u64, code_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE totp_backup_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(id("user id", user_id)?)
        .bind(code_hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hashes of the unused backup codes (for salted hashes that must be
    /// verified one by one).
    pub async fn unused_backup_codes(&self, user_id: u64) -> Result<Vec<String>> {
        sqlx::query(
            "SELECT code_hash FROM totp_backup_codes WHERE user_id = $1 AND used_at IS NULL \
             ORDER BY code_hash",
        )
        .bind(id("user id", user_id)?)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| get_str(r, "code_hash"))
        .collect()
    }
}

fn found(rows: u64) -> Result<()> {
    if rows == 0 {
        Err(user_not_found())
    } else {
        Ok(())
    }
}
