//! Read-only views of engine state, for replies and read-your-writes APIs.

use crate::book::{Order, Place, NIL};
use crate::{Balance, Engine};
use flowex_types::{
    AssetConfig, AssetId, ClientOrderId, MarketConfig, MarketId, OrderId, OrderStatus, OrderType,
    Side, StpMode, TimeInForce, UserId,
};

/// An open order as the outside world sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub id: OrderId,
    pub user: UserId,
    pub market: MarketId,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub price: u64,
    pub stop_price: u64,
    pub orig_qty: u64,
    pub quote_qty: u64,
    pub remaining: u64,
    pub executed: u64,
    pub cum_quote: u64,
    pub locked: u64,
    pub client_id: Option<ClientOrderId>,
    pub stp: StpMode,
    pub time_ns: u64,
    pub status: OrderStatus,
    /// Still waiting in the stop book for its trigger.
    pub pending_stop: bool,
}

/// Top levels of a book, best first, with the market's update id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Depth {
    pub bids: Vec<(u64, u64)>,
    pub asks: Vec<(u64, u64)>,
    pub update_id: u64,
}

impl Engine {
    fn view(&self, o: &Order) -> OrderView {
        OrderView {
            id: o.id,
            user: o.user,
            market: self.markets[o.market as usize].cfg.id,
            side: o.side,
            order_type: o.order_type,
            tif: o.tif,
            price: o.price,
            stop_price: o.stop_price,
            orig_qty: o.orig_qty,
            quote_qty: o.quote_qty,
            remaining: o.remaining,
            executed: o.executed,
            cum_quote: o.cum_quote,
            locked: o.locked,
            client_id: o.client_id,
            stp: o.stp,
            time_ns: o.time_ns,
            status: if o.executed > 0 {
                OrderStatus::PartiallyFilled
            } else {
                OrderStatus::New
            },
            pending_stop: o.place == Place::Stop,
        }
    }

    /// Non-zero balances of a user, by asset id.
    pub fn balances(&self, user: UserId) -> Vec<(AssetId, Balance)> {
        let Some(acct) = self.accounts.find(user) else {
            return Vec::new();
        };
        let mut v: Vec<_> = self
            .accounts
            .get(acct)
            .balances
            .iter()
            .enumerate()
            .filter(|(_, b)| b.total() > 0)
            .map(|(slot, b)| (self.assets[slot].cfg.id, *b))
            .collect();
        v.sort_unstable_by_key(|(a, _)| *a);
        v
    }

    /// Every non-zero balance of every account (the fee account included),
    /// by user then asset id: what reconciliation compares with the ledger.
    pub fn all_balances(&self) -> Vec<(UserId, AssetId, Balance)> {
        let mut users: Vec<UserId> = self.accounts.list.iter().map(|a| a.user).collect();
        users.sort_unstable();
        users
            .into_iter()
            .flat_map(|u| self.balances(u).into_iter().map(move |(a, b)| (u, a, b)))
            .collect()
    }

    /// Every user's own fee tier (maker, taker ppm), by user id: the
    /// configuration a projection starts from.
    pub fn user_fee_tiers(&self) -> Vec<(UserId, (u32, u32))> {
        let mut tiers: Vec<(UserId, (u32, u32))> = self
            .accounts
            .list
            .iter()
            .filter_map(|a| a.fees.map(|f| (a.user, f)))
            .collect();
        tiers.sort_unstable_by_key(|(u, _)| *u);
        tiers
    }

    /// A user's own fee tier (maker, taker ppm), if one is set, and whether
    /// the user is frozen.
    pub fn user_settings(&self, user: UserId) -> (Option<(u32, u32)>, bool) {
        self.accounts.find(user).map_or((None, false), |a| {
            let account = self.accounts.get(a);
            (account.fees, account.frozen)
        })
    }

    pub fn balance(&self, user: UserId, asset: AssetId) -> Balance {
        match (self.accounts.find(user), self.asset_index.get(&asset)) {
            (Some(acct), Some(&slot)) => self.accounts.balance(acct, slot),
            _ => Balance::default(),
        }
    }

    /// Open orders (resting and pending stops) of a user, oldest first.
    pub fn open_orders(&self, user: UserId, market: Option<MarketId>) -> Vec<OrderView> {
        let Some(acct) = self.accounts.find(user) else {
            return Vec::new();
        };
        let mut v = Vec::new();
        let mut s = self.accounts.get(acct).orders_head;
        while s != NIL {
            let o = self.orders.get(s);
            let view = self.view(o);
            if market.is_none_or(|m| m == view.market) {
                v.push(view);
            }
            s = o.user_next;
        }
        v.sort_unstable_by_key(|o| o.id);
        v
    }

    pub fn order(&self, id: OrderId) -> Option<OrderView> {
        self.order_index
            .get(&id)
            .map(|&s| self.view(self.orders.get(s)))
    }

    pub fn order_by_client_id(&self, user: UserId, client_id: ClientOrderId) -> Option<OrderView> {
        self.client_index
            .get(&(user, client_id))
            .and_then(|id| self.order(*id))
    }

    /// Up to `levels` price levels per side, best first.
    pub fn depth(&self, market: MarketId, levels: usize) -> Option<Depth> {
        let m = &self.markets[*self.market_index.get(&market)? as usize];
        let take = |side: Side| {
            m.ladder(side)
                .iter()
                .take(levels)
                .map(|(p, l)| (p, l.qty))
                .collect()
        };
        Some(Depth {
            bids: take(Side::Buy),
            asks: take(Side::Sell),
            update_id: m.update_id,
        })
    }

    /// Best bid and best ask as (price, aggregate qty).
    #[allow(clippy::type_complexity)]
    pub fn best_bid_ask(
        &self,
        market: MarketId,
    ) -> Option<(Option<(u64, u64)>, Option<(u64, u64)>)> {
        let m = &self.markets[*self.market_index.get(&market)? as usize];
        let best = |side: Side| m.ladder(side).best().map(|(p, l)| (p, l.qty));
        Some((best(Side::Buy), best(Side::Sell)))
    }

    pub fn last_price(&self, market: MarketId) -> Option<u64> {
        let m = &self.markets[*self.market_index.get(&market)? as usize];
        (m.last_price != 0).then_some(m.last_price)
    }

    pub fn market(&self, id: MarketId) -> Option<MarketConfig> {
        self.market_index
            .get(&id)
            .map(|&s| self.markets[s as usize].cfg)
    }

    pub fn markets(&self) -> Vec<MarketConfig> {
        self.markets.iter().map(|m| m.cfg).collect()
    }

    pub fn assets(&self) -> Vec<AssetConfig> {
        self.assets.iter().map(|a| a.cfg).collect()
    }

    /// Deposits minus withdrawals of an asset: what all its balances sum to.
    pub fn supply(&self, asset: AssetId) -> Option<u64> {
        self.asset_index
            .get(&asset)
            .map(|&s| self.assets[s as usize].supply)
    }

    /// Number of open orders (resting and stops) across all markets.
    pub fn open_order_count(&self) -> usize {
        self.order_index.len()
    }
}
