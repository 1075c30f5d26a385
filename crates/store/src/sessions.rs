//! Sessions and refresh tokens (RFC 9700 rotation with reuse detection).
//!
//! A session is one refresh-token family: it starts at login with its first
//! token, and every refresh rotates the token (the presented one is marked
//! rotated, a child is issued). Presenting a rotated token again is reuse:
//! the whole family (the session) is revoked in the same transaction. Tokens
//! are stored by the hash the auth service computes; the raw token never
//! reaches the database.

use crate::codec::{get_i64, get_opt_i64, get_opt_str, get_str, get_u64, id};
use crate::error::{unique_as, Result, StoreError};
use crate::{CredentialChange, Store};
use sqlx::any::AnyRow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Also the refresh-token family id.
    pub id: u64,
    pub user_id: u64,
    pub created_at: i64,
    pub last_used_at: i64,
    /// Expiry of the current refresh token.
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub session_id: u64,
    pub user_id: u64,
    pub parent_hash: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
}

/// A login: a new session with its first refresh token.
pub struct NewSession<'a> {
    pub user_id: u64,
    pub token_hash: &'a str,
    pub expires_at: i64,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub now: i64,
}

/// A refresh: the presented token's hash and its replacement.
pub struct Rotation<'a> {
    pub presented_hash: &'a str,
    pub new_hash: &'a str,
    pub new_expires_at: i64,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was current: it is now rotated and `new_hash` is
    /// the session's token. Holds the updated session.
    Rotated(Session),
    /// The presented token had been rotated already: reuse. The session
    /// (the whole family) has just been revoked with reason `"reuse"`.
    Reused { session_id: u64, user_id: u64 },
    /// The session was revoked earlier (logout, reuse, admin, ...).
    Revoked { session_id: u64, user_id: u64 },
    /// The token is past its expiry.
    Expired { session_id: u64, user_id: u64 },
    /// No such token.
    NotFound,
}

const SESSION_COLUMNS: &str = "id, user_id, created_at, last_used_at, expires_at, user_agent, ip, \
                               revoked_at, revoke_reason";

fn session_from_row(row: &AnyRow) -> Result<Session> {
    Ok(Session {
        id: get_u64(row, "id")?,
        user_id: get_u64(row, "user_id")?,
        created_at: get_i64(row, "created_at")?,
        last_used_at: get_i64(row, "last_used_at")?,
        expires_at: get_i64(row, "expires_at")?,
        user_agent: get_opt_str(row, "user_agent")?,
        ip: get_opt_str(row, "ip")?,
        revoked_at: get_opt_i64(row, "revoked_at")?,
        revoke_reason: get_opt_str(row, "revoke_reason")?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<RefreshToken> {
    Ok(RefreshToken {
        token_hash: get_str(row, "token_hash")?,
        session_id: get_u64(row, "session_id")?,
        user_id: get_u64(row, "user_id")?,
        parent_hash: get_opt_str(row, "parent_hash")?,
        created_at: get_i64(row, "created_at")?,
        expires_at: get_i64(row, "expires_at")?,
        rotated_at: get_opt_i64(row, "rotated_at")?,
    })
}

fn token_taken() -> StoreError {
    StoreError::Duplicate {
        entity: "refresh token",
    }
}

async fn session_in<'c, E>(exec: E, session_id: i64) -> Result<Option<Session>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    sqlx::query(&sql)
        .bind(session_id)
        .fetch_optional(exec)
        .await?
        .as_ref()
        .map(session_from_row)
        .transpose()
}

impl Store {
    /// Starts a session (login) with its first refresh token.
    pub async fn create_session(&self, new: &NewSession<'_>) -> Result<Session> {
        let sid = id("session id", self.next_id("sessions").await?)?;
        let uid = id("user id", new.user_id)?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip) \
             VALUES ($1, $2, $3, $3, $4, $5, $6)",
        )
        .bind(sid)
        .bind(uid)
        .bind(new.now)
        .bind(new.expires_at)
        .bind(new.user_agent)
        .bind(new.ip)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new.token_hash)
        .bind(sid)
        .bind(uid)
        .bind(new.now)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_as(e, token_taken()))?;
        let session = session_in(&mut *tx, sid).await?;
        tx.commit().await?;
        session.ok_or(StoreError::NotFound { entity: "session" })
    }

    pub async fn session(&self, session_id: u64) -> Result<Option<Session>> {
        session_in(self.pool(), id("session id", session_id)?).await
    }

    pub async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>> {
        sqlx::query(
            "SELECT token_hash, session_id, user_id, parent_hash, created_at, expires_at, \
             rotated_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()
    }

    /// Rotates a refresh token in one transaction. The first statement is
    /// the conditional mark-as-rotated, which takes the lock: of two
    /// concurrent uses of the same token exactly one sees it current; the
    /// other then sees it rotated, i.e. reuse, and revokes the family.
    pub async fn rotate_refresh_token(&self, r: &Rotation<'_>) -> Result<RotateOutcome> {
        let mut tx = self.pool().begin().await?;
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2 \
             WHERE token_hash = $1 AND rotated_at IS NULL AND expires_at > $2 \
             AND session_id IN (SELECT id FROM sessions WHERE revoked_at IS NULL) \
             RETURNING session_id, user_id",
        )
        .bind(r.presented_hash)
        .bind(r.now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = claimed {
            let sid = get_i64(&row, "session_id")?;
            let uid = get_i64(&row, "user_id")?;
            let session = issue_rotated(&mut tx, r, sid, uid).await?;
            tx.commit().await?;
            return Ok(RotateOutcome::Rotated(session));
        }

        // Not current: find out why. The transaction holds the write lock
        // (SQLite) or saw the committed state (PostgreSQL) by now.
        let outcome = why_not_current(tx, r).await;
        if let Ok(RotateOutcome::Reused { session_id, .. }) = &outcome {
            self.tell(CredentialChange::Session(*session_id));
        }
        outcome
    }

    /// Revokes one session of `user_id` (logout, "sign out that device").
    /// `false` if it does not exist, belongs to someone else or is revoked.
    pub async fn revoke_session(
        &self,
        user_id: u64,
        session_id: u64,
        now: i64,
        reason: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id("session id", session_id)?)
        .bind(id("user id", user_id)?)
        .bind(now)
        .bind(reason)
        .execute(self.pool())
        .await;
        self.tell(CredentialChange::Session(session_id));
        Ok(done?.rows_affected() == 1)
    }

    /// Revokes the family (session) a token belongs to, whoever owns it.
    /// `false` if the token is unknown or the family was already revoked.
    pub async fn revoke_family(&self, token_hash: &str, now: i64, reason: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
             WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) \
             AND revoked_at IS NULL RETURNING id",
        )
        .bind(token_hash)
        .bind(now)
        .bind(reason)
        .fetch_optional(self.pool())
        .await;
        match &done {
            Ok(Some(row)) => self.tell(CredentialChange::Session(get_u64(row, "id")?)),
            Ok(None) => {}
            // It may have committed: forget everything rather than guess.
            Err(_) => self.tell(CredentialChange::All),
        }
        Ok(done?.is_some())
    }

    /// Revokes every live session of a user, except `keep` (e.g. the one
    /// changing the password). Returns how many were revoked.
    pub async fn revoke_user_sessions(
        &self,
        user_id: u64,
        keep: Option<u64>,
        now: i64,
        reason: &str,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4",
        )
        .bind(id("user id", user_id)?)
        .bind(now)
        .bind(reason)
        .bind(id("session id", keep.unwrap_or(0))?)
        .execute(self.pool())
        .await;
        self.tell(CredentialChange::User(user_id));
        Ok(done?.rows_affected())
    }

    /// Live sessions of a user (not revoked, not expired), newest first.
    pub async fn list_sessions(&self, user_id: u64, now: i64) -> Result<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC"
        );
        sqlx::query(&sql)
            .bind(id("user id", user_id)?)
            .bind(now)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(session_from_row)
            .collect()
    }

    /// Deletes sessions (and their tokens) that expired or were revoked
    /// before `before`. Returns the number of sessions removed.
    pub async fn purge_sessions(&self, before: i64) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let cond = "expires_at < $1 OR revoked_at < $1";
        sqlx::query(&format!(
            "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE {cond})"
        ))
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(&format!("DELETE FROM sessions WHERE {cond}"))
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// The successor of a claimed refresh token: the new token row, and the
/// session's expiry, last use and client moved forward. Returns the session.
async fn issue_rotated(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    r: &Rotation<'_>,
    sid: i64,
    uid: i64,
) -> Result<Session> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, user_id, parent_hash, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(r.new_hash)
    .bind(sid)
    .bind(uid)
    .bind(r.presented_hash)
    .bind(r.now)
    .bind(r.new_expires_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| unique_as(e, token_taken()))?;
    sqlx::query(
        "UPDATE sessions SET last_used_at = $2, expires_at = $3, \
         user_agent = COALESCE($4, user_agent), ip = COALESCE($5, ip) WHERE id = $1",
    )
    .bind(sid)
    .bind(r.now)
    .bind(r.new_expires_at)
    .bind(r.user_agent)
    .bind(r.ip)
    .execute(&mut **tx)
    .await?;
    session_in(&mut **tx, sid)
        .await?
        .ok_or(StoreError::NotFound { entity: "session" })
}

/// Why a presented refresh token was not current: unknown, its session
/// revoked, reused after rotation (which revokes the family, committed
/// here), or expired.
async fn why_not_current(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    r: &Rotation<'_>,
) -> Result<RotateOutcome> {
    let row = sqlx::query(
        "SELECT t.session_id, t.user_id, t.rotated_at, t.expires_at, s.revoked_at \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE t.token_hash = $1",
    )
    .bind(r.presented_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(RotateOutcome::NotFound);
    };
    let session_id = get_u64(&row, "session_id")?;
    let user_id = get_u64(&row, "user_id")?;
    if get_opt_i64(&row, "revoked_at")?.is_some() {
        return Ok(RotateOutcome::Revoked {
            session_id,
            user_id,
        });
    }
    if get_opt_i64(&row, "rotated_at")?.is_some() {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = 'reuse' \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id("session id", session_id)?)
        .bind(r.now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok(RotateOutcome::Reused {
            session_id,
            user_id,
        });
    }
    Ok(RotateOutcome::Expired {
        session_id,
        user_id,
    })
}
