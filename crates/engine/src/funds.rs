//! Operator commands: assets, markets, fee tiers, freezes, and the movement
//! of funds into and out of the exchange (deposits and withdrawals), each
//! idempotent by key.

use crate::book::Ladder;
use crate::{AssetState, Engine, Market, Withdrawal, WithdrawalState};
use flowex_types::market::{MAX_ASSET_DECIMALS, MAX_FEE_PPM};
use flowex_types::{
    AssetConfig, AssetId, Event, IdemKey, MarketConfig, MarketId, MarketScale, MarketStatus,
    MarketUpdate, RejectReason, Side, UserId, FEE_ACCOUNT,
};
use std::collections::BTreeSet;

type Outcome = Result<(), RejectReason>;

impl Engine {
    pub(crate) fn create_asset(&mut self, cfg: AssetConfig, out: &mut Vec<Event>) -> Outcome {
        if self.asset_index.contains_key(&cfg.id)
            || self.assets.iter().any(|a| a.cfg.code == cfg.code)
        {
            return Err(RejectReason::AssetExists);
        }
        if cfg.decimals > MAX_ASSET_DECIMALS {
            return Err(RejectReason::InvalidConfig);
        }
        self.asset_index.insert(cfg.id, self.assets.len() as u32);
        self.assets.push(AssetState { cfg, supply: 0 });
        out.push(Event::AssetCreated(cfg));
        Ok(())
    }

    fn market_scale(&self, cfg: &MarketConfig) -> Result<(u32, u32, MarketScale), RejectReason> {
        let base = self.asset_slot(cfg.base)?;
        let quote = self.asset_slot(cfg.quote)?;
        cfg.validate_limits()
            .map_err(|_| RejectReason::InvalidConfig)?;
        let scale = MarketScale::derive(
            cfg,
            &self.assets[base as usize].cfg,
            &self.assets[quote as usize].cfg,
        )
        .map_err(|_| RejectReason::InvalidConfig)?;
        Ok((base, quote, scale))
    }

    pub(crate) fn create_market(&mut self, cfg: MarketConfig, out: &mut Vec<Event>) -> Outcome {
        if self.market_index.contains_key(&cfg.id)
            || self.markets.iter().any(|m| m.cfg.symbol == cfg.symbol)
        {
            return Err(RejectReason::MarketExists);
        }
        let (base, quote, scale) = self.market_scale(&cfg)?;
        self.market_index.insert(cfg.id, self.markets.len() as u32);
        self.markets.push(Market {
            cfg,
            scale,
            base,
            quote,
            bids: Ladder::new(Side::Buy),
            asks: Ladder::new(Side::Sell),
            stops_falling: BTreeSet::new(),
            stops_rising: BTreeSet::new(),
            last_price: 0,
            next_trade_id: 1,
            update_id: 0,
            order_count: 0,
        });
        out.push(Event::MarketCreated(cfg));
        Ok(())
    }

    pub(crate) fn update_market(
        &mut self,
        id: MarketId,
        update: &MarketUpdate,
        out: &mut Vec<Event>,
    ) -> Outcome {
        let slot = self.market_slot(id)?;
        let cfg = self.markets[slot as usize].cfg.updated(update);
        self.market_scale(&cfg)?;
        self.markets[slot as usize].cfg = cfg;
        out.push(Event::MarketUpdated(cfg));
        Ok(())
    }

    pub(crate) fn set_market_status(
        &mut self,
        id: MarketId,
        status: MarketStatus,
        out: &mut Vec<Event>,
    ) -> Outcome {
        let slot = self.market_slot(id)?;
        self.markets[slot as usize].cfg.status = status;
        out.push(Event::MarketStatusChanged { market: id, status });
        Ok(())
    }

    pub(crate) fn set_user_fees(
        &mut self,
        user: UserId,
        fees: Option<(u32, u32)>,
        out: &mut Vec<Event>,
    ) -> Outcome {
        if user == FEE_ACCOUNT {
            return Err(RejectReason::ReservedAccount);
        }
        if fees.is_some_and(|(m, t)| m > MAX_FEE_PPM || t > MAX_FEE_PPM) {
            return Err(RejectReason::InvalidConfig);
        }
        let acct = self.accounts.get_or_create(user);
        self.accounts.get_mut(acct).fees = fees;
        out.push(Event::UserFeesSet { user, fees });
        Ok(())
    }

    pub(crate) fn set_user_frozen(
        &mut self,
        user: UserId,
        frozen: bool,
        out: &mut Vec<Event>,
    ) -> Outcome {
        if user == FEE_ACCOUNT {
            return Err(RejectReason::ReservedAccount);
        }
        let acct = self.accounts.get_or_create(user);
        self.accounts.get_mut(acct).frozen = frozen;
        out.push(Event::UserFrozenSet { user, frozen });
        Ok(())
    }

    pub(crate) fn deposit(
        &mut self,
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
        out: &mut Vec<Event>,
    ) -> Outcome {
        if self.used_keys.contains_key(&key) {
            out.push(Event::Duplicate { key });
            return Ok(());
        }
        let slot = self.asset_slot(asset)?;
        if user == FEE_ACCOUNT {
            return Err(RejectReason::ReservedAccount);
        }
        if amount == 0 {
            return Err(RejectReason::ZeroAmount);
        }
        // Bounding the supply bounds every balance, so credits never overflow.
        let supply = self.assets[slot as usize]
            .supply
            .checked_add(amount)
            .ok_or(RejectReason::Overflow)?;
        self.assets[slot as usize].supply = supply;
        self.used_keys.insert(key, ());
        let acct = self.accounts.get_or_create(user);
        self.accounts.credit(acct, slot, amount);
        out.push(Event::Deposited {
            key,
            user,
            asset,
            amount,
        });
        Ok(())
    }

    /// Common checks of a withdrawal request; returns (account, asset slot).
    fn withdrawable(
        &self,
        user: UserId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(u32, u32), RejectReason> {
        let slot = self.asset_slot(asset)?;
        if amount == 0 {
            return Err(RejectReason::ZeroAmount);
        }
        let acct = self
            .accounts
            .find(user)
            .ok_or(RejectReason::InsufficientFunds)?;
        if self.accounts.get(acct).frozen {
            return Err(RejectReason::UserFrozen);
        }
        if self.accounts.balance(acct, slot).available < amount {
            return Err(RejectReason::InsufficientFunds);
        }
        Ok((acct, slot))
    }

    pub(crate) fn withdraw(
        &mut self,
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
        out: &mut Vec<Event>,
    ) -> Outcome {
        if self.used_keys.contains_key(&key) {
            out.push(Event::Duplicate { key });
            return Ok(());
        }
        let (acct, slot) = self.withdrawable(user, asset, amount)?;
        self.used_keys.insert(key, ());
        self.accounts.debit(acct, slot, amount);
        self.assets[slot as usize].supply -= amount;
        out.push(Event::Withdrawn {
            key,
            user,
            asset,
            amount,
        });
        Ok(())
    }

    pub(crate) fn withdraw_lock(
        &mut self,
        key: IdemKey,
        user: UserId,
        asset: AssetId,
        amount: u64,
        out: &mut Vec<Event>,
    ) -> Outcome {
        if self.used_keys.contains_key(&key) {
            out.push(Event::Duplicate { key });
            return Ok(());
        }
        if user == FEE_ACCOUNT {
            return Err(RejectReason::ReservedAccount);
        }
        let (acct, slot) = self.withdrawable(user, asset, amount)?;
        self.used_keys.insert(key, ());
        self.accounts.lock(acct, slot, amount);
        let w = Withdrawal {
            user,
            acct,
            asset: slot,
            amount,
            state: WithdrawalState::Pending,
        };
        self.withdrawals.insert(key, w);
        out.push(Event::WithdrawLocked {
            key,
            user,
            asset,
            amount,
        });
        Ok(())
    }

    /// Releases (`finalize == false`) or completes a pending withdrawal.
    /// Repeating the same closing command is a duplicate; the other closing
    /// command on a closed withdrawal is refused, so funds never leave twice.
    pub(crate) fn withdraw_close(
        &mut self,
        key: IdemKey,
        finalize: bool,
        out: &mut Vec<Event>,
    ) -> Outcome {
        let w = *self
            .withdrawals
            .get(&key)
            .ok_or(RejectReason::UnknownWithdrawal)?;
        let target = if finalize {
            WithdrawalState::Finalized
        } else {
            WithdrawalState::Released
        };
        match w.state {
            WithdrawalState::Pending => {}
            s if s == target => {
                out.push(Event::Duplicate { key });
                return Ok(());
            }
            _ => return Err(RejectReason::WithdrawalNotPending),
        }
        let asset = self.assets[w.asset as usize].cfg.id;
        if finalize {
            self.accounts.spend_locked(w.acct, w.asset, w.amount);
            self.assets[w.asset as usize].supply -= w.amount;
            out.push(Event::WithdrawFinalized {
                key,
                user: w.user,
                asset,
                amount: w.amount,
            });
        } else {
            self.accounts.unlock(w.acct, w.asset, w.amount);
            out.push(Event::WithdrawReleased {
                key,
                user: w.user,
                asset,
                amount: w.amount,
            });
        }
        self.withdrawals
            .insert(key, Withdrawal { state: target, ..w });
        Ok(())
    }
}
