//! How every FlowEx component reaches Redis: one URL, either a server
//! (`redis://[:password@]host:6379/0`) or a Sentinel group,
//!
//! ```text
//! redis+sentinel://[:password@]sentinel-1:26379[,sentinel-2:26379…]/MASTER[/DB]
//! ```
//!
//! whose primary is asked of the sentinels when a connection is made (the
//! password and database are the primary's; the sentinels take none).
//! [`RedisConn`] follows a failover: a command the old primary refused
//! (`READONLY`: it did not run) or could not be sent (connection refused)
//! asks the sentinels again and is sent once more to the new primary; a
//! command cut off on the way may have run, so its error is returned and
//! the next command starts from a fresh lookup. With a plain URL it is the
//! redis crate's `ConnectionManager` and nothing more.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, Cmd, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// Where Redis is.
enum Target {
    Server(Client),
    Sentinel(Mutex<SentinelClient>),
}

/// Makes connections to the Redis of one URL.
pub struct RedisConnector {
    target: Target,
    db: i64,
    config: ConnectionManagerConfig,
    /// Bound on one sentinel lookup.
    lookup_timeout: Duration,
}

/// A sentinel URL split: sentinel addresses, primary name, primary's
/// settings.
fn parse_sentinel(rest: &str) -> Result<(Vec<String>, String, redis::RedisConnectionInfo), String> {
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (hosts, path) = rest
        .split_once('/')
        .ok_or("no master name after the sentinels")?;
    let mut path = path.split('/');
    let master = path
        .next()
        .filter(|m| !m.is_empty())
        .ok_or("no master name")?;
    let db = match path.next() {
        None | Some("") => 0,
        Some(db) => db
            .parse::<i64>()
            .map_err(|_| format!("bad database {db:?}"))?,
    };
    let sentinels: Vec<String> = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{h}"))
        .collect();
    if sentinels.is_empty() {
        return Err("no sentinel address".into());
    }
    // The primary's password and database, parsed by the redis crate itself.
    let primary = match auth {
        Some(auth) => format!("redis://{auth}@primary/{db}"),
        None => format!("redis://primary/{db}"),
    };
    let info = primary
        .into_connection_info()
        .map_err(|e| format!("credentials: {e}"))?;
    Ok((sentinels, master.to_string(), info.redis_settings().clone()))
}

impl RedisConnector {
    /// A connector for `url`; `timeout` bounds each command, each
    /// connection attempt and each sentinel lookup.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisConnector, String> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            .set_number_of_retries(1);
        let (target, db) = match url.strip_prefix(SENTINEL_SCHEME) {
            Some(rest) => {
                let (sentinels, master, info) = parse_sentinel(rest)?;
                let db = info.db();
                let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(info);
                let client = SentinelClient::build(
                    sentinels,
                    master,
                    Some(node),
                    SentinelServerType::Master,
                )
                .map_err(|e| e.to_string())?;
                (Target::Sentinel(Mutex::new(client)), db)
            }
            None => {
                let client = Client::open(url).map_err(|e| e.to_string())?;
                let db = client.get_connection_info().redis_settings().db();
                (Target::Server(client), db)
            }
        };
        Ok(RedisConnector {
            target,
            db,
            config,
            lookup_timeout: timeout,
        })
    }

    /// With `extra` added to the response timeout (blocking reads).
    pub fn with_extra_response_time(mut self, timeout: Duration, extra: Duration) -> Self {
        self.config = self.config.set_response_timeout(Some(timeout + extra));
        self
    }

    /// A client of the primary (for pub/sub): the server, or the primary
    /// the sentinels name now.
    pub async fn client(&self) -> RedisResult<Client> {
        match &self.target {
            Target::Server(client) => Ok(client.clone()),
            Target::Sentinel(sentinel) => {
                let lookup = async { sentinel.lock().await.async_get_client().await };
                match tokio::time::timeout(self.lookup_timeout, lookup).await {
                    Ok(found) => found,
                    Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no sentinel named the primary in time",
                    ))),
                }
            }
        }
    }

    /// A connection made at once (fails if Redis cannot be reached).
    pub async fn connect(self: &Arc<Self>) -> RedisResult<RedisConn> {
        let conn = self.lazy();
        conn.current().await?;
        Ok(conn)
    }

    /// A connection made on its first command.
    pub fn lazy(self: &Arc<Self>) -> RedisConn {
        RedisConn {
            shared: Arc::new(Shared {
                connector: self.clone(),
                current: Mutex::new(None),
            }),
            db: self.db,
        }
    }

    /// Boxed: the Sentinel lookup is a deep future, and callers hold this
    /// one inside their own long-lived loops.
    fn manager(&self) -> RedisFuture<'_, ConnectionManager> {
        Box::pin(async move {
            let client = self.client().await?;
            ConnectionManager::new_with_config(client, self.config.clone()).await
        })
    }

    fn follows_failover(&self) -> bool {
        matches!(self.target, Target::Sentinel(_))
    }
}

struct Shared {
    connector: Arc<RedisConnector>,
    /// The connection to the primary; `None` until the first command and
    /// after the primary moved.
    current: Mutex<Option<ConnectionManager>>,
}

/// A connection to the primary, cheap to clone (clones share it), that
/// follows a Sentinel failover (module docs).
#[derive(Clone)]
pub struct RedisConn {
    shared: Arc<Shared>,
    db: i64,
}

/// The primary moved, and the command did not run there.
fn not_run_on_primary(e: &redis::RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
    ) || e.is_connection_refusal()
}

/// The connection is gone or stuck: ask the sentinels next time.
fn connection_lost(e: &redis::RedisError) -> bool {
    e.is_connection_dropped() || e.is_io_error() || e.is_timeout()
}

impl RedisConn {
    async fn current(&self) -> RedisResult<ConnectionManager> {
        let mut current = self.shared.current.lock().await;
        if let Some(conn) = current.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self.shared.connector.manager().await?;
        *current = Some(conn.clone());
        Ok(conn)
    }

    async fn forget(&self) {
        if self.shared.connector.follows_failover() {
            *self.shared.current.lock().await = None;
        }
    }

    /// Sends `p` to the primary; once more to the new primary when the
    /// first did not run because the primary moved.
    async fn run<P: Packed>(&self, p: P) -> RedisResult<P::Out> {
        let mut conn = self.current().await?;
        match p.send(&mut conn).await {
            Err(e) if self.shared.connector.follows_failover() && not_run_on_primary(&e) => {
                tracing::warn!(error = %e, "redis primary moved; asking the sentinels");
                self.forget().await;
                let mut conn = self.current().await?;
                p.send(&mut conn).await
            }
            Err(e) => {
                if connection_lost(&e) {
                    self.forget().await;
                }
                Err(e)
            }
            ok => ok,
        }
    }
}

/// A command or a pipeline, as `ConnectionLike` sends them.
trait Packed {
    type Out;
    fn send<'c>(&'c self, conn: &'c mut ConnectionManager) -> RedisFuture<'c, Self::Out>;
}

struct One<'a>(&'a Cmd);

impl Packed for One<'_> {
    type Out = Value;
    fn send<'c>(&'c self, conn: &'c mut ConnectionManager) -> RedisFuture<'c, Value> {
        conn.req_packed_command(self.0)
    }
}

struct Many<'a>(&'a Pipeline, usize, usize);

impl Packed for Many<'_> {
    type Out = Vec<Value>;
    fn send<'c>(&'c self, conn: &'c mut ConnectionManager) -> RedisFuture<'c, Vec<Value>> {
        conn.req_packed_commands(self.0, self.1, self.2)
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.run(One(cmd)))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.run(Many(cmd, offset, count)))
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_sentinels_master_credentials_and_database() {
        let (s, m, info) = parse_sentinel(":pw@s1:26379,s2:26380/mymaster/3").unwrap();
        assert_eq!(s, ["redis://s1:26379", "redis://s2:26380"]);
        assert_eq!(m, "mymaster");
        assert_eq!((info.password(), info.db()), (Some("pw"), 3));
        let (_, m, info) = parse_sentinel("s1:26379/primary").unwrap();
        assert_eq!(
            (m.as_str(), info.password(), info.db()),
            ("primary", None, 0)
        );
        for bad in ["s1:26379", "s1:26379/", "/m", "s1/m/x"] {
            assert!(parse_sentinel(bad).is_err(), "{bad}");
        }
    }
}
