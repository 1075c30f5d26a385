//! API-key permissions, user roles and IP allow-lists.
//!
//! - [`Permissions`]: a small set of `READ`, `TRADE`, `WITHDRAW`, stored as
//!   bits ([`Permissions::bits`]) or text (`"READ,TRADE"`). New keys get
//!   [`Permissions::DEFAULT`] (`READ,TRADE`): withdrawals must be asked for.
//! - [`Role`]: `user` or `admin`, carried in the access token's `role` claim.
//! - [`IpAllowList`]: CIDR blocks (IPv4 and IPv6; a bare address is a /32 or
//!   /128). An empty list allows every address. IPv4-mapped IPv6 addresses
//!   (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4 client)
//!   are matched as the IPv4 address they are.

use std::fmt;
use std::net::IpAddr;
use std::ops::{BitOr, BitOrAssign};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A set of API-key permissions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u8);

/// A permission name that is not `READ`, `TRADE` or `WITHDRAW`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown permission {0:?} (expected READ, TRADE or WITHDRAW)")]
pub struct UnknownPermission(pub String);

impl Permissions {
    /// No permission at all.
    pub const NONE: Permissions = Permissions(0);
    /// Read account data, orders and trades.
    pub const READ: Permissions = Permissions(1);
    /// Place and cancel orders.
    pub const TRADE: Permissions = Permissions(2);
    /// Request withdrawals.
    pub const WITHDRAW: Permissions = Permissions(4);
    /// Every permission.
    pub const ALL: Permissions = Permissions(7);
    /// What a new API key gets unless told otherwise: `READ,TRADE`.
    pub const DEFAULT: Permissions = Permissions(1 | 2);

    const NAMES: [(Permissions, &'static str); 3] = [
        (Permissions::READ, "READ"),
        (Permissions::TRADE, "TRADE"),
        (Permissions::WITHDRAW, "WITHDRAW"),
    ];

    /// The bits, for storage (READ = 1, TRADE = 2, WITHDRAW = 4).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// From stored bits; `None` if an unknown bit is set.
    pub const fn from_bits(bits: u8) -> Option<Permissions> {
        if bits & !Self::ALL.0 == 0 {
            Some(Permissions(bits))
        } else {
            None
        }
    }

    /// Whether every permission in `other` is in `self`.
    pub const fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses a comma-separated list such as `"READ,TRADE"`. Names are
    /// case-insensitive, surrounding spaces and empty items are ignored,
    /// duplicates are harmless; the empty string is the empty set.
    pub fn parse(s: &str) -> Result<Permissions, UnknownPermission> {
        let mut out = Permissions::NONE;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let p = Self::NAMES
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(item))
                .map(|(p, _)| *p)
                .ok_or_else(|| UnknownPermission(item.to_string()))?;
            out |= p;
        }
        Ok(out)
    }
}

impl BitOr for Permissions {
    type Output = Permissions;
    fn bitor(self, rhs: Permissions) -> Permissions {
        Permissions(self.0 | rhs.0)
    }
}

impl BitOrAssign for Permissions {
    fn bitor_assign(&mut self, rhs: Permissions) {
        self.0 |= rhs.0;
    }
}

/// `READ,TRADE,WITHDRAW` order, comma-separated, empty string for none.
impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (p, name) in Self::NAMES {
            if self.contains(p) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({self})")
    }
}

impl FromStr for Permissions {
    type Err = UnknownPermission;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permissions::parse(s)
    }
}

/// Serialized as the text form, e.g. `"READ,TRADE"`.
impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Permissions::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A user's role (RBAC). Serialized as `"user"` / `"admin"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A trader: their own account only.
    #[default]
    User,
    /// An operator: admin routes too.
    Admin,
}

/// A role name that is not `user` or `admin`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown role {0:?} (expected user or admin)")]
pub struct UnknownRole(pub String);

impl Role {
    /// `"user"` or `"admin"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may use admin routes.
    pub const fn is_admin(self) -> bool {
        matches!(self, Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    /// Exact, lowercase: `user` or `admin`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

/// Why an IP allow-list could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IpListError {
    /// An entry is neither an IP address nor a CIDR block.
    #[error("invalid IP address or CIDR block {0:?}")]
    Invalid(String),
    /// More than [`IpAllowList::MAX_ENTRIES`] entries.
    #[error("too many IP allow-list entries ({0}; at most {max})", max = IpAllowList::MAX_ENTRIES)]
    TooMany(usize),
}

/// The addresses an API key may be used from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpAllowList {
    nets: Vec<IpNet>,
}

impl IpAllowList {
    /// The most entries one list may hold.
    pub const MAX_ENTRIES: usize = 100;

    /// A list that allows every address (the empty list).
    pub fn allow_all() -> Self {
        IpAllowList::default()
    }

    /// Parses entries such as `"203.0.113.7"`, `"10.0.0.0/8"`,
    /// `"2001:db8::/32"`. Surrounding spaces are ignored and empty entries
    /// skipped; a bare address is a single host (/32 or /128); host bits in a
    /// block are cleared (`10.1.2.3/8` is stored as `10.0.0.0/8`); IPv4-mapped
    /// IPv6 entries are stored as IPv4.
    pub fn parse<I, S>(entries: I) -> Result<Self, IpListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for entry in entries {
            let e = entry.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            let net = if e.contains('/') {
                e.parse::<IpNet>()
                    .map_err(|_| IpListError::Invalid(e.to_string()))?
                    .trunc()
            } else {
                IpNet::from(
                    e.parse::<IpAddr>()
                        .map_err(|_| IpListError::Invalid(e.to_string()))?,
                )
            };
            let net = canonical_net(net);
            if !nets.contains(&net) {
                nets.push(net);
            }
            if nets.len() > Self::MAX_ENTRIES {
                return Err(IpListError::TooMany(nets.len()));
            }
        }
        Ok(IpAllowList { nets })
    }

    /// Parses a comma-separated list (`"1.2.3.4, 10.0.0.0/8"`), see
    /// [`IpAllowList::parse`].
    pub fn parse_csv(s: &str) -> Result<Self, IpListError> {
        Self::parse(s.split(','))
    }

    /// Whether `ip` may use the key: always for an empty list, otherwise when
    /// some entry contains it.
    pub fn allows(&self, ip: IpAddr) -> bool {
        if self.nets.is_empty() {
            return true;
        }
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether the list is empty (allows everyone).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The normalized entries, for storage or display (`"10.0.0.0/8"`,
    /// `"203.0.113.7/32"`).
    pub fn entries(&self) -> Vec<String> {
        self.nets.iter().map(ToString::to_string).collect()
    }
}

/// Comma-separated normalized entries (empty string for allow-all).
impl fmt::Display for IpAllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.entries().join(","))
    }
}

fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let Some(v4) = v6.addr().to_ipv4_mapped() {
            if v6.prefix_len() >= 96 {
                if let Ok(n) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96) {
                    return IpNet::V4(n.trunc());
                }
            }
        }
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_and_format() {
        let p = Permissions::parse("READ,TRADE").unwrap();
        assert_eq!(p, Permissions::READ | Permissions::TRADE);
        assert_eq!(p, Permissions::DEFAULT);
        assert_eq!(p.to_string(), "READ,TRADE");
        assert!(p.contains(Permissions::READ));
        assert!(!p.contains(Permissions::WITHDRAW));
        assert!(!p.contains(Permissions::ALL));
        assert_eq!(
            Permissions::parse(" withdraw , read,,READ ")
                .unwrap()
                .to_string(),
            "READ,WITHDRAW"
        );
        assert_eq!(Permissions::parse("").unwrap(), Permissions::NONE);
        assert!(Permissions::NONE.is_empty());
        assert_eq!(Permissions::NONE.to_string(), "");
        assert_eq!(Permissions::ALL.to_string(), "READ,TRADE,WITHDRAW");
        assert_eq!(
            Permissions::parse("READ,MARGIN"),
            Err(UnknownPermission("MARGIN".into()))
        );
        assert_eq!(
            Permissions::from_bits(5).unwrap().to_string(),
            "READ,WITHDRAW"
        );
        assert_eq!(Permissions::from_bits(8), None);
        assert_eq!(format!("{:?}", Permissions::READ), "Permissions(READ)");
        let json = serde_json::to_string(&Permissions::DEFAULT).unwrap();
        assert_eq!(json, "\"READ,TRADE\"");
        let back: Permissions = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Permissions::DEFAULT);
        assert!(serde_json::from_str::<Permissions>("\"FLY\"").is_err());
    }

    #[test]
    fn roles() {
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!("user".parse::<Role>().unwrap(), Role::User);
        assert!("Admin".parse::<Role>().is_err());
        assert!(Role::Admin.is_admin() && !Role::User.is_admin());
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), "\"admin\"");
        assert_eq!(Role::default(), Role::User);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn empty_list_allows_everyone() {
        let l = IpAllowList::parse(Vec::<String>::new()).unwrap();
        assert!(l.is_empty());
        assert!(l.allows(ip("8.8.8.8")) && l.allows(ip("::1")));
        assert!(IpAllowList::parse_csv(" , ").unwrap().is_empty());
        assert!(IpAllowList::allow_all().allows(ip("1.1.1.1")));
    }

    #[test]
    fn cidr_v4_and_v6() {
        let l =
            IpAllowList::parse(["10.0.0.0/8", " 203.0.113.7 ", "2001:db8::/32", "::1"]).unwrap();
        assert!(l.allows(ip("10.255.1.2")));
        assert!(!l.allows(ip("11.0.0.1")));
        assert!(l.allows(ip("203.0.113.7")));
        assert!(!l.allows(ip("203.0.113.8")));
        assert!(l.allows(ip("2001:db8:1::5")));
        assert!(!l.allows(ip("2001:db9::1")));
        assert!(l.allows(ip("::1")));
        assert!(!l.allows(ip("::2")));
        // An IPv4 client seen through a dual-stack socket.
        assert!(l.allows(ip("::ffff:10.1.2.3")));
        assert!(!l.allows(ip("::ffff:11.1.2.3")));
        assert_eq!(
            l.to_string(),
            "10.0.0.0/8,203.0.113.7/32,2001:db8::/32,::1/128"
        );
    }

    #[test]
    fn normalization() {
        let l = IpAllowList::parse_csv("10.1.2.3/8,::ffff:192.0.2.1,10.0.0.0/8").unwrap();
        assert_eq!(l.entries(), vec!["10.0.0.0/8", "192.0.2.1/32"]);
        assert!(l.allows(ip("192.0.2.1")));
    }

    #[test]
    fn parse_errors_are_typed() {
        for bad in [
            "10.0.0.0/33",
            "300.1.1.1",
            "not-an-ip",
            "1.2.3.4/",
            "::1/129",
            "1.2.3",
        ] {
            assert_eq!(
                IpAllowList::parse([bad]),
                Err(IpListError::Invalid(bad.to_string())),
                "{bad}"
            );
        }
        let many: Vec<String> = (0..=100).map(|i| format!("10.0.{i}.1")).collect();
        assert_eq!(IpAllowList::parse(&many), Err(IpListError::TooMany(101)));
    }
}
