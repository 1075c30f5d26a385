//! Who is connected, and whose events go where.
//!
//! The hub counts connections (per IP, per logged-on user, in total) and
//! holds each user's subscriptions. Delivering never waits: an event is
//! put in the connection's bounded queue with `try_send`; a full queue
//! kicks that connection (closed as a slow consumer), so a slow client
//! never slows the follower, the engine or anyone else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

/// Tells a connection it must close because its queue overflowed.
#[derive(Debug, Default)]
pub struct Kick {
    pub notify: Notify,
    pub slow: AtomicBool,
}

impl Kick {
    fn fire(&self) {
        self.slow.store(true, Ordering::Release);
        self.notify.notify_one();
    }
}

/// One subscription of one connection.
struct Subscriber {
    conn: u64,
    /// `Some(id)`: events wrapped as `{"subscriptionId":id,"event":…}`
    /// (the WebSocket API); `None`: sent as they are (a listenKey stream).
    subscription: Option<u64>,
    tx: mpsc::Sender<Arc<str>>,
    kick: Arc<Kick>,
}

#[derive(Default)]
struct Inner {
    per_ip: HashMap<IpAddr, usize>,
    per_user: HashMap<u64, usize>,
    total: usize,
    subscribers: HashMap<u64, Vec<Subscriber>>,
    /// The connections of each listenKey, each with its close signal.
    listen_keys: HashMap<String, Vec<(u64, Arc<Notify>)>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    PerIp(usize),
    Total(usize),
}

/// The limits the hub enforces.
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_connections_per_user: usize,
}

pub struct Hub {
    inner: Mutex<Inner>,
    limits: HubLimits,
    next_id: AtomicU64,
}

/// A held connection; dropping it frees its place and its subscriptions.
pub struct Slot {
    pub id: u64,
    ip: IpAddr,
    hub: Arc<Hub>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        inner.total = inner.total.saturating_sub(1);
        flowex_metrics::ws_connections("ws_api", inner.total);
        if let Some(n) = inner.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                inner.per_ip.remove(&self.ip);
            }
        }
        inner.subscribers.retain(|_, subs| {
            subs.retain(|s| s.conn != self.id);
            !subs.is_empty()
        });
    }
}

/// A logged-on user's place among their connections.
pub struct UserSlot {
    pub user: u64,
    hub: Arc<Hub>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        if let Some(n) = inner.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                inner.per_user.remove(&self.user);
            }
        }
    }
}

/// A connection's place among its listenKey's connections; dropping it
/// frees the place.
pub struct KeySlot {
    key: String,
    conn: u64,
    /// Fired when the key is closed here (`DELETE /api/v3/userDataStream`).
    pub closed: Arc<Notify>,
    hub: Arc<Hub>,
}

impl Drop for KeySlot {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        if let Some(conns) = inner.listen_keys.get_mut(&self.key) {
            conns.retain(|(c, _)| *c != self.conn);
            if conns.is_empty() {
                inner.listen_keys.remove(&self.key);
            }
        }
    }
}

impl Hub {
    pub fn new(limits: HubLimits) -> Arc<Hub> {
        Arc::new(Hub {
            inner: Mutex::default(),
            limits,
            next_id: AtomicU64::new(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn limits(&self) -> HubLimits {
        self.limits
    }

    /// A place for a new connection from `ip`, or why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let mut inner = self.lock();
        if inner.total >= self.limits.max_connections {
            flowex_metrics::ws_refused("total");
            return Err(Refused::Total(self.limits.max_connections));
        }
        let from_ip = inner.per_ip.entry(ip).or_default();
        if *from_ip >= self.limits.max_connections_per_ip {
            flowex_metrics::ws_refused("per_ip");
            return Err(Refused::PerIp(self.limits.max_connections_per_ip));
        }
        *from_ip += 1;
        inner.total += 1;
        flowex_metrics::ws_connections("ws_api", inner.total);
        Ok(Slot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            ip,
            hub: self.clone(),
        })
    }

    /// A place for one more authenticated connection of `user`; `None`
    /// past `max_connections_per_user`.
    pub fn admit_user(self: &Arc<Self>, user: u64) -> Option<UserSlot> {
        let mut inner = self.lock();
        let n = inner.per_user.entry(user).or_default();
        if *n >= self.limits.max_connections_per_user {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            user,
            hub: self.clone(),
        })
    }

    /// Sends `user`'s events to connection `conn` as `subscription`.
    pub fn subscribe(
        &self,
        user: u64,
        conn: u64,
        subscription: u64,
        tx: mpsc::Sender<Arc<str>>,
        kick: Arc<Kick>,
    ) {
        self.lock()
            .subscribers
            .entry(user)
            .or_default()
            .push(Subscriber {
                conn,
                subscription: Some(subscription),
                tx,
                kick,
            });
    }

    /// Sends `user`'s events to connection `conn` as they are (a listenKey
    /// stream), until the connection's [`Slot`] is dropped.
    pub fn subscribe_raw(&self, user: u64, conn: u64, tx: mpsc::Sender<Arc<str>>, kick: Arc<Kick>) {
        self.lock()
            .subscribers
            .entry(user)
            .or_default()
            .push(Subscriber {
                conn,
                subscription: None,
                tx,
                kick,
            });
    }

    /// A place for connection `conn` on listenKey `key`; `None` when the
    /// key already has `max` connections here.
    pub fn admit_listen_key(self: &Arc<Self>, key: &str, conn: u64, max: usize) -> Option<KeySlot> {
        let mut inner = self.lock();
        let conns = inner.listen_keys.entry(key.to_string()).or_default();
        if conns.len() >= max {
            return None;
        }
        let closed = Arc::new(Notify::new());
        conns.push((conn, closed.clone()));
        Some(KeySlot {
            key: key.to_string(),
            conn,
            closed,
            hub: self.clone(),
        })
    }

    /// Tells every connection of listenKey `key` here that it was closed.
    pub fn close_listen_key(&self, key: &str) {
        if let Some(conns) = self.lock().listen_keys.get(key) {
            for (_, closed) in conns {
                closed.notify_one();
            }
        }
    }

    /// Stops `subscription` of connection `conn`.
    pub fn unsubscribe(&self, conn: u64, subscription: u64) {
        self.lock().subscribers.retain(|_, subs| {
            subs.retain(|s| !(s.conn == conn && s.subscription == Some(subscription)));
            !subs.is_empty()
        });
    }

    /// Queues one event (a JSON object) for every subscription of `user`.
    pub fn deliver(&self, user: u64, event: &str) {
        let inner = self.lock();
        let Some(subs) = inner.subscribers.get(&user) else {
            return;
        };
        let raw: Arc<str> = event.into();
        let (mut sent, mut dropped) = (0, 0);
        for s in subs {
            let frame = match s.subscription {
                Some(id) => format!(r#"{{"subscriptionId":{id},"event":{event}}}"#).into(),
                None => raw.clone(),
            };
            if s.tx.try_send(frame).is_ok() {
                sent += 1;
            } else {
                dropped += 1;
                s.kick.fire();
            }
        }
        flowex_metrics::ws_published("user_data", sent, dropped);
    }

    /// Connections held now.
    pub fn connection_count(&self) -> usize {
        self.lock().total
    }
}
