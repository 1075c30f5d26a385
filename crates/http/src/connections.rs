//! Who may hold a connection: the total and per-address limits, the
//! refusal a client gets past them, the open-file ceiling, and how the
//! accept loop backs off when the kernel refuses.

use ipnet::IpNet;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits a server holds its connections to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most open connections; past it new clients get 503 (-1008).
    pub max_connections: usize,
    /// Most open connections from one peer address (429, -1003, past it);
    /// `None` where only FlowEx's own gateway connects (the services of the
    /// distributed mode).
    pub max_per_ip: Option<usize>,
    /// Time a client has to send a request's headers (also closes idle
    /// keep-alive connections).
    pub header_read_timeout: Duration,
    /// Peers not capped per address (trusted proxies carry many clients).
    pub exempt: Vec<IpNet>,
}

impl ConnectionLimits {
    /// Where clients connect: the gateway and `flowex up`.
    pub fn public(server: &flowex_config::ServerConfig) -> Self {
        ConnectionLimits {
            max_connections: server.max_connections,
            max_per_ip: Some(server.max_connections_per_ip),
            header_read_timeout: server.header_read_timeout(),
            exempt: server.trusted_proxies.clone(),
        }
    }

    /// A service behind the gateway: every connection comes from the
    /// gateway's address, so no per-address cap.
    pub fn internal(server: &flowex_config::ServerConfig) -> Self {
        ConnectionLimits {
            max_per_ip: None,
            ..ConnectionLimits::public(server)
        }
    }
}

/// `max_connections` alone, the rest as configured by default (tests).
impl From<usize> for ConnectionLimits {
    fn from(max_connections: usize) -> Self {
        ConnectionLimits {
            max_connections,
            ..ConnectionLimits::public(&flowex_config::ServerConfig::default())
        }
    }
}

/// File descriptors kept back from connections: the database, the
/// journal, logs, outgoing connections and the short-lived sockets of
/// refusals.
const FD_RESERVE: u64 = 256;

/// Raises the soft open-file limit to the hard one (as Go's runtime does)
/// and returns how many connections fit under it: `wanted`, or fewer with
/// a warning when the limit is lower.
pub fn fit_under_open_file_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    let Some(soft) = limit.current else {
        return wanted;
    };
    let room = usize::try_from(soft.saturating_sub(FD_RESERVE).max(16)).unwrap_or(usize::MAX);
    if room < wanted && wanted == flowex_config::ServerConfig::default().max_connections {
        // The default is "as many as fit, up to 20 000": not a setting the
        // operator chose, so nothing to warn about on every start.
        tracing::info!(
            open_file_limit = soft,
            effective = room,
            "serving at most {room} connections (the open-file limit; raise `ulimit -n` for more)"
        );
    } else if room < wanted {
        tracing::warn!(
            max_connections = wanted,
            open_file_limit = soft,
            effective = room,
            "server.max_connections is above what the open-file limit allows; serving at most {room} connections (raise `ulimit -n` for more)"
        );
    }
    wanted.min(room)
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address holds its share.
    PerIp(usize),
    /// The server holds its total.
    Total(usize),
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::PerIp(_) => "per_ip",
            Refusal::Total(_) => "total",
        }
    }

    /// The whole HTTP/1.1 response a refused client reads before the close.
    pub fn response(self) -> Vec<u8> {
        let (status, code, msg) = match self {
            Refusal::PerIp(max) => (
                "429 Too Many Requests",
                -1003,
                format!("Too many connections from this IP address: at most {max}."),
            ),
            Refusal::Total(_) => (
                "503 Service Unavailable",
                -1008,
                "Server is currently overloaded with other requests. Please try again in a few minutes.".to_string(),
            ),
        };
        let body = serde_json::json!({ "code": code, "msg": msg }).to_string();
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// Open connections per address (entries at zero are removed).
type PerIpCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Counts open connections, in total and per address.
#[derive(Debug)]
pub struct Admission {
    limits: ConnectionLimits,
    total: Arc<Semaphore>,
    per_ip: PerIpCounts,
    /// Refusals being written at once; past it a refused socket is just
    /// closed, so a flood of refusals cannot use the reserve up.
    refusing: Arc<Semaphore>,
}

/// A connection's place; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    _total: OwnedSemaphorePermit,
    ip: Option<(IpAddr, PerIpCounts)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((ip, map)) = self.ip.take() {
            let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

const MAX_REFUSALS_IN_FLIGHT: usize = 64;

impl Admission {
    /// Limits as given, the total fitted under the open-file limit.
    pub fn new(mut limits: ConnectionLimits) -> Self {
        limits.max_connections = fit_under_open_file_limit(limits.max_connections.max(1));
        Admission {
            total: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            per_ip: Arc::default(),
            refusing: Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT)),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// A place for a connection from `ip`, or why there is none.
    pub fn admit(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Total(self.limits.max_connections))?;
        let capped = self
            .limits
            .max_per_ip
            .filter(|_| !self.limits.exempt.iter().any(|net| net.contains(&ip)));
        let Some(max) = capped else {
            return Ok(Slot {
                _total: total,
                ip: None,
            });
        };
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return Err(Refusal::PerIp(max));
        }
        *n += 1;
        drop(map);
        Ok(Slot {
            _total: total,
            ip: Some((ip, self.per_ip.clone())),
        })
    }

    /// Answers a refused client and closes. The request's head is read
    /// first (briefly) so a client that has not sent it yet is not handed
    /// an answer before its question, and the rest is drained so the close
    /// is not a reset that hides the answer.
    pub fn refuse(&self, stream: TcpStream, why: Refusal) {
        metrics::counter!("flowex_http_connections_refused_total", "reason" => why.label())
            .increment(1);
        let Ok(permit) = self.refusing.clone().try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(Duration::from_secs(2), answer(stream, why)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, why: Refusal) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read_head = async {
        while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), read_head).await;
    stream.write_all(&why.response()).await?;
    stream.shutdown().await?;
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}

/// The accept loop's reaction to errors: connection-level errors are the
/// client's and skipped; anything else (out of file descriptors, memory)
/// waits, doubling from 5 ms to 1 s, and is logged at most once a minute
/// with a count, instead of a line per attempt.
#[derive(Debug)]
pub struct AcceptBackoff {
    delay: Duration,
    unlogged: u64,
    last_log: Option<Instant>,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff {
            delay: Self::FIRST,
            unlogged: 0,
            last_log: None,
        }
    }
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(60);

    /// A connection was accepted: the next error starts from the shortest
    /// wait.
    pub fn succeeded(&mut self) {
        self.delay = Self::FIRST;
    }

    /// How long to wait after `e` before accepting again (zero for errors
    /// of one connection).
    pub fn failed(&mut self, e: &io::Error) -> Duration {
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
        ) {
            return Duration::ZERO;
        }
        metrics::counter!("flowex_http_accept_errors_total").increment(1);
        self.unlogged += 1;
        let due = self.last_log.is_none_or(|t| t.elapsed() >= Self::LOG_EVERY);
        if due {
            tracing::error!(
                errors = self.unlogged,
                "accept error: {e}; accepting again with back-off (logged at most once a minute)"
            );
            self.unlogged = 0;
            self.last_log = Some(Instant::now());
        }
        let wait = self.delay;
        self.delay = (self.delay * 2).min(Self::MAX);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_to_a_ceiling_and_resets() {
        let mut b = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(24);
        let waits: Vec<_> = (0..10).map(|_| b.failed(&emfile)).collect();
        assert_eq!(waits[0], Duration::from_millis(5));
        assert_eq!(waits[1], Duration::from_millis(10));
        assert_eq!(*waits.last().unwrap(), Duration::from_secs(1));
        b.succeeded();
        assert_eq!(b.failed(&emfile), Duration::from_millis(5));
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(b.failed(&reset), Duration::ZERO);
    }

    #[test]
    fn per_address_places_come_back_when_dropped() {
        let a = Admission::new(ConnectionLimits {
            max_connections: 10,
            max_per_ip: Some(2),
            header_read_timeout: Duration::from_secs(10),
            exempt: vec![],
        });
        let ip: IpAddr = [10, 0, 0, 1].into();
        let one = a.admit(ip).unwrap();
        let _two = a.admit(ip).unwrap();
        assert_eq!(a.admit(ip).unwrap_err(), Refusal::PerIp(2));
        assert!(a.admit([10, 0, 0, 2].into()).is_ok());
        drop(one);
        assert!(a.admit(ip).is_ok());
    }
}
