//! The engine's configuration as a projection sees it: assets, markets
//! (with their status and filters) and users' own fee tiers, learnt only
//! from the events and from the state a projection starts from — never
//! asked of the live engine, so a projection rebuilt from the journal sees
//! the configuration that held when each event happened.

use crate::{BusError, StartContext};
use flowex_engine::Engine;
use flowex_types::{AssetConfig, AssetId, Event, MarketConfig, MarketId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Assets, markets and fee tiers at one seq.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CatalogRepr", into = "CatalogRepr")]
pub struct Catalog {
    assets: BTreeMap<AssetId, AssetConfig>,
    markets: BTreeMap<MarketId, MarketConfig>,
    user_fees: BTreeMap<UserId, (u32, u32)>,
}

/// The stored form: lists in id order (JSON maps want string keys).
#[derive(Clone, Serialize, Deserialize)]
struct CatalogRepr {
    assets: Vec<AssetConfig>,
    markets: Vec<MarketConfig>,
    #[serde(default)]
    user_fees: Vec<(UserId, u32, u32)>,
}

impl From<CatalogRepr> for Catalog {
    fn from(r: CatalogRepr) -> Catalog {
        Catalog {
            assets: r.assets.into_iter().map(|a| (a.id, a)).collect(),
            markets: r.markets.into_iter().map(|m| (m.id, m)).collect(),
            user_fees: r
                .user_fees
                .into_iter()
                .map(|(u, maker, taker)| (u, (maker, taker)))
                .collect(),
        }
    }
}

impl From<Catalog> for CatalogRepr {
    fn from(c: Catalog) -> CatalogRepr {
        CatalogRepr {
            assets: c.assets.into_values().collect(),
            markets: c.markets.into_values().collect(),
            user_fees: c
                .user_fees
                .into_iter()
                .map(|(u, (maker, taker))| (u, maker, taker))
                .collect(),
        }
    }
}

/// Why a projection has no configuration to go on.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the stored configuration of projection {name} is unreadable: {error}")]
    Unreadable {
        name: &'static str,
        error: serde_json::Error,
    },
    #[error(
        "projection {name} is at seq {seq} without a stored configuration and its source has \
         no journal to rebuild it from (rebuild the projection in the trading process, or \
         from seq 0)"
    )]
    Missing { name: &'static str, seq: u64 },
    #[error("rebuilding the configuration at seq {seq}: {error}")]
    Rebuild { seq: u64, error: BusError },
    #[error("seq {seq} names market {} that no event or snapshot has created", .market.0)]
    UnknownMarket { seq: u64, market: MarketId },
}

/// A market with its two assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketAssets<'a> {
    pub config: &'a MarketConfig,
    pub base: &'a AssetConfig,
    pub quote: &'a AssetConfig,
}

impl Catalog {
    /// The configuration of `engine` (a state restored from a snapshot and
    /// the journal, or one read in a single engine query).
    pub fn of_engine(engine: &Engine) -> Catalog {
        let mut catalog = Catalog {
            assets: engine.assets().into_iter().map(|a| (a.id, a)).collect(),
            markets: engine.markets().into_iter().map(|m| (m.id, m)).collect(),
            user_fees: BTreeMap::new(),
        };
        for (user, fees) in engine.user_fee_tiers() {
            catalog.user_fees.insert(user, fees);
        }
        catalog
    }

    /// The configuration a SQL projection resumes with at its stored offset
    /// `seq`: the catalog it stored with that offset, none at seq 0, or
    /// (stored by a version that kept none) the journal's state at `seq`.
    pub async fn resume(
        name: &'static str,
        seq: u64,
        stored: Option<&str>,
        ctx: &StartContext,
    ) -> Result<Catalog, CatalogError> {
        if let Some(s) = stored {
            return Catalog::from_json(s).map_err(|error| CatalogError::Unreadable { name, error });
        }
        if seq == 0 {
            return Ok(Catalog::default());
        }
        match ctx.engine_at(seq).await {
            Some(Ok(engine)) => Ok(Catalog::of_engine(&engine)),
            Some(Err(error)) => Err(CatalogError::Rebuild { seq, error }),
            None => Err(CatalogError::Missing { name, seq }),
        }
    }

    /// A catalog of exactly these assets and markets (a market snapshot's).
    pub fn from_parts(assets: &[AssetConfig], markets: &[MarketConfig]) -> Catalog {
        Catalog {
            assets: assets.iter().map(|a| (a.id, *a)).collect(),
            markets: markets.iter().map(|m| (m.id, *m)).collect(),
            user_fees: BTreeMap::new(),
        }
    }

    /// Learns the configuration changes among `events`; whether any.
    pub fn apply(&mut self, events: &[Event]) -> bool {
        let mut changed = false;
        for e in events {
            changed |= self.apply_one(e);
        }
        changed
    }

    fn apply_one(&mut self, e: &Event) -> bool {
        match e {
            Event::AssetCreated(a) => {
                self.assets.insert(a.id, *a);
            }
            Event::MarketCreated(m) | Event::MarketUpdated(m) => {
                self.markets.insert(m.id, *m);
            }
            Event::MarketStatusChanged { market, status } => {
                let Some(m) = self.markets.get_mut(market) else {
                    // The engine only changes the status of a market it has.
                    tracing::error!(market = market.0, "status change of an unknown market");
                    return false;
                };
                m.status = *status;
            }
            Event::UserFeesSet { user, fees } => match fees {
                Some(f) => {
                    self.user_fees.insert(*user, *f);
                }
                None => {
                    self.user_fees.remove(user);
                }
            },
            _ => return false,
        }
        true
    }

    pub fn asset(&self, id: AssetId) -> Option<&AssetConfig> {
        self.assets.get(&id)
    }

    pub fn market(&self, id: MarketId) -> Option<&MarketConfig> {
        self.markets.get(&id)
    }

    /// A market and its assets, if all three are known.
    pub fn market_assets(&self, id: MarketId) -> Option<MarketAssets<'_>> {
        let config = self.markets.get(&id)?;
        Some(MarketAssets {
            config,
            base: self.assets.get(&config.base)?,
            quote: self.assets.get(&config.quote)?,
        })
    }

    /// Every asset, in id order.
    pub fn assets(&self) -> impl Iterator<Item = &AssetConfig> {
        self.assets.values()
    }

    /// Every market, in id order.
    pub fn markets(&self) -> impl Iterator<Item = &MarketConfig> {
        self.markets.values()
    }

    /// A user's own fee tier (maker, taker ppm), if one is set.
    pub fn user_fees(&self, user: UserId) -> Option<(u32, u32)> {
        self.user_fees.get(&user).copied()
    }

    /// The stored form (JSON).
    pub fn to_json(&self) -> String {
        // Plain data with string-free keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The inverse of [`to_json`](Self::to_json).
    pub fn from_json(s: &str) -> Result<Catalog, serde_json::Error> {
        serde_json::from_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowex_testkit::asset;
    use flowex_types::MarketStatus;

    fn market() -> MarketConfig {
        MarketConfig {
            min_notional: 0,
            ..flowex_testkit::btcusdt()
        }
    }

    #[test]
    fn learns_from_events_and_round_trips() {
        let mut c = Catalog::default();
        let mut updated = market();
        updated.maker_fee_ppm = 0;
        assert!(c.apply(&[
            Event::AssetCreated(asset(1, "BTC")),
            Event::AssetCreated(asset(2, "USDT")),
            Event::MarketCreated(market()),
        ]));
        assert_eq!(
            c.market_assets(MarketId(1)).unwrap().quote.code.as_str(),
            "USDT"
        );
        assert!(c.apply(&[
            Event::MarketUpdated(updated),
            Event::MarketStatusChanged {
                market: MarketId(1),
                status: MarketStatus::Halted,
            },
            Event::UserFeesSet {
                user: UserId(7),
                fees: Some((1, 2)),
            },
        ]));
        let m = c.market(MarketId(1)).unwrap();
        assert_eq!((m.maker_fee_ppm, m.status), (0, MarketStatus::Halted));
        assert_eq!(c.user_fees(UserId(7)), Some((1, 2)));
        assert!(!c.apply(&[Event::Duplicate {
            key: flowex_types::IdemKey::new("k").unwrap()
        }]));
        assert_eq!(Catalog::from_json(&c.to_json()).unwrap(), c);
        assert!(c.apply(&[Event::UserFeesSet {
            user: UserId(7),
            fees: None,
        }]));
        assert_eq!(c.user_fees(UserId(7)), None);
        assert!(Catalog::from_json("{").is_err());
    }
}
