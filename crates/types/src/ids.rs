//! Identifiers. Numeric ids are plain newtypes; short strings (symbols,
//! client order ids) are stored inline so commands stay `Copy` and never
//! allocate on the hot path.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! numeric_id {
    ($(#[$m:meta])* $name:ident($inner:ty)) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        pub struct $name(pub $inner);
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// An account holder. Assigned by the auth service; the engine only sees the number.
    UserId(u64)
);
numeric_id!(
    /// An asset (BTC, USDT, ...). Assigned by the operator when the asset is created.
    AssetId(u32)
);
numeric_id!(
    /// A market (order book). Assigned by the operator when the market is created.
    MarketId(u32)
);
numeric_id!(
    /// Order id, assigned by the engine, monotonic across all markets.
    OrderId(u64)
);
numeric_id!(
    /// Trade id, assigned by the engine, monotonic per market.
    TradeId(u64)
);

/// Reserved user that collects every fee. Part of every conservation check.
pub const FEE_ACCOUNT: UserId = UserId(0);

/// Why an inline string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("empty")]
    Empty,
    #[error("longer than {0} characters")]
    TooLong(usize),
    #[error("illegal character")]
    IllegalChar,
}

macro_rules! inline_str {
    ($(#[$m:meta])* $name:ident, $cap:expr, $allowed:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name {
            len: u8,
            bytes: [u8; $cap],
        }

        impl $name {
            pub const CAPACITY: usize = $cap;

            pub fn new(s: &str) -> Result<Self, IdError> {
                let b = s.as_bytes();
                if b.is_empty() {
                    return Err(IdError::Empty);
                }
                if b.len() > $cap {
                    return Err(IdError::TooLong($cap));
                }
                let allowed: fn(u8) -> bool = $allowed;
                if !b.iter().all(|&c| allowed(c)) {
                    return Err(IdError::IllegalChar);
                }
                let mut bytes = [0u8; $cap];
                bytes[..b.len()].copy_from_slice(b);
                Ok(Self { len: b.len() as u8, bytes })
            }

            pub fn as_str(&self) -> &str {
                // Only ASCII is ever admitted by `new`, so this cannot fail.
                std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <&str>::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

inline_str!(
    /// Client order id, Binance's rule: 1-36 characters of `[.A-Z:/a-z0-9_-]`.
    ClientOrderId,
    36,
    |c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/' | b'_' | b'-')
);

inline_str!(
    /// Market symbol such as `BTCUSDT`: 1-20 upper-case letters or digits.
    Symbol,
    20,
    |c| c.is_ascii_uppercase() || c.is_ascii_digit()
);

inline_str!(
    /// Asset code such as `BTC`: 1-12 upper-case letters or digits.
    AssetCode,
    12,
    |c| c.is_ascii_uppercase() || c.is_ascii_digit()
);

inline_str!(
    /// Idempotency key of a deposit or withdrawal: 1-64 printable ASCII characters.
    IdemKey,
    64,
    |c| c.is_ascii_graphic()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_id_follows_binance_rule() {
        assert!(ClientOrderId::new("x-R4BD3S82a1b2c3d4e5f6a7b8c9d0e1f2").is_ok());
        assert!(ClientOrderId::new("a.b:c/d_e-f").is_ok());
        assert_eq!(ClientOrderId::new(""), Err(IdError::Empty));
        assert_eq!(
            ClientOrderId::new(&"a".repeat(37)),
            Err(IdError::TooLong(36))
        );
        assert!(ClientOrderId::new(&"a".repeat(36)).is_ok());
        assert_eq!(ClientOrderId::new("a b"), Err(IdError::IllegalChar));
        assert_eq!(ClientOrderId::new("é"), Err(IdError::IllegalChar));
    }

    #[test]
    fn inline_strings_round_trip_through_serde() {
        let id = Symbol::new("BTCUSDT").unwrap();
        let bytes = postcard::to_stdvec(&id).unwrap();
        assert_eq!(postcard::from_bytes::<Symbol>(&bytes).unwrap(), id);
        assert!(Symbol::new("btcusdt").is_err());
        let bad = postcard::to_stdvec("bad symbol").unwrap();
        assert!(postcard::from_bytes::<Symbol>(&bad).is_err());
    }
}
