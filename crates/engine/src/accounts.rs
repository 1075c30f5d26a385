//! Balances: available and locked funds per user and asset.
//!
//! Every mutation goes through [`Accounts`] so that the set of touched
//! (account, asset) pairs is recorded once per command and reported as
//! `BalanceChanged` events at its end.

use crate::book::NIL;
use flowex_types::{UserId, FEE_ACCOUNT};
use rustc_hash::FxHashMap;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    pub available: u64,
    pub locked: u64,
}

impl Balance {
    pub fn total(&self) -> u64 {
        self.available + self.locked
    }
}

#[derive(Clone)]
pub(crate) struct Account {
    pub user: UserId,
    /// Indexed by asset slot; grown on demand.
    pub balances: Vec<Balance>,
    /// Per asset slot: the command epoch in which the balance was last reported dirty.
    marks: Vec<u32>,
    pub fees: Option<(u32, u32)>,
    pub frozen: bool,
    pub open_orders: u32,
    pub orders_head: u32,
    pub orders_tail: u32,
}

impl Account {
    fn new(user: UserId) -> Self {
        Account {
            user,
            balances: Vec::new(),
            marks: Vec::new(),
            fees: None,
            frozen: false,
            open_orders: 0,
            orders_head: NIL,
            orders_tail: NIL,
        }
    }

    pub fn balance(&self, asset: u32) -> Balance {
        self.balances
            .get(asset as usize)
            .copied()
            .unwrap_or_default()
    }
}

#[derive(Clone)]
pub(crate) struct Accounts {
    pub list: Vec<Account>,
    index: FxHashMap<UserId, u32>,
    /// (account, asset) pairs changed by the current command, in first-touch order.
    pub dirty: Vec<(u32, u32)>,
    /// Numbers commands, so that "already in `dirty`" is one comparison
    /// instead of a scan (a sweep through many makers touches many balances).
    epoch: u32,
}

/// Slot of the fee account, created with the engine.
pub(crate) const FEE_SLOT: u32 = 0;

impl Accounts {
    pub fn new() -> Self {
        let mut a = Accounts::empty();
        a.get_or_create(FEE_ACCOUNT);
        a
    }

    /// No accounts at all, not even the fee account (for a restore).
    pub fn empty() -> Self {
        Accounts {
            list: Vec::new(),
            index: FxHashMap::default(),
            dirty: Vec::new(),
            epoch: 1,
        }
    }

    pub fn find(&self, user: UserId) -> Option<u32> {
        self.index.get(&user).copied()
    }

    pub fn get_or_create(&mut self, user: UserId) -> u32 {
        if let Some(&slot) = self.index.get(&user) {
            return slot;
        }
        let slot = self.list.len() as u32;
        self.list.push(Account::new(user));
        self.index.insert(user, slot);
        slot
    }

    #[inline]
    pub fn get(&self, acct: u32) -> &Account {
        &self.list[acct as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, acct: u32) -> &mut Account {
        &mut self.list[acct as usize]
    }

    #[inline]
    pub fn balance(&self, acct: u32, asset: u32) -> Balance {
        self.list[acct as usize].balance(asset)
    }

    #[inline]
    fn slot_mut(&mut self, acct: u32, asset: u32) -> &mut Balance {
        let a = asset as usize;
        let account = &mut self.list[acct as usize];
        if account.balances.len() <= a {
            account.balances.resize(a + 1, Balance::default());
        }
        if account.marks.len() <= a {
            account.marks.resize(a + 1, 0);
        }
        if account.marks[a] != self.epoch {
            account.marks[a] = self.epoch;
            self.dirty.push((acct, asset));
        }
        &mut account.balances[a]
    }

    /// Forgets the dirty set once it has been reported, starting a new epoch.
    pub fn end_command(&mut self) {
        self.dirty.clear();
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // After 4 billion commands: clear every mark so none is mistaken for current.
            self.list
                .iter_mut()
                .for_each(|a| a.marks.iter_mut().for_each(|m| *m = 0));
            self.epoch = 1;
        }
    }

    /// Credits available funds. Callers guarantee the asset's supply bound,
    /// so a balance can never overflow.
    pub fn credit(&mut self, acct: u32, asset: u32, amount: u64) {
        if amount == 0 {
            return;
        }
        let b = self.slot_mut(acct, asset);
        b.available = b
            .available
            .checked_add(amount)
            .expect("balance bounded by asset supply");
    }

    /// Debits available funds; the caller has checked they suffice.
    pub fn debit(&mut self, acct: u32, asset: u32, amount: u64) {
        if amount == 0 {
            return;
        }
        let b = self.slot_mut(acct, asset);
        assert!(b.available >= amount, "debit beyond available");
        b.available -= amount;
    }

    /// Moves funds from available to locked; the caller has checked they suffice.
    pub fn lock(&mut self, acct: u32, asset: u32, amount: u64) {
        if amount == 0 {
            return;
        }
        let b = self.slot_mut(acct, asset);
        assert!(b.available >= amount, "lock beyond available");
        b.available -= amount;
        b.locked += amount;
    }

    /// Moves funds from locked back to available.
    pub fn unlock(&mut self, acct: u32, asset: u32, amount: u64) {
        if amount == 0 {
            return;
        }
        let b = self.slot_mut(acct, asset);
        assert!(b.locked >= amount, "unlock beyond locked");
        b.locked -= amount;
        b.available += amount;
    }

    /// Removes locked funds (paid out in a trade or withdrawn).
    pub fn spend_locked(&mut self, acct: u32, asset: u32, amount: u64) {
        if amount == 0 {
            return;
        }
        let b = self.slot_mut(acct, asset);
        assert!(b.locked >= amount, "spend beyond locked");
        b.locked -= amount;
    }

    /// Rebuilds the index after a restore.
    pub fn push_restored(&mut self, account: Account) {
        let slot = self.list.len() as u32;
        self.index.insert(account.user, slot);
        self.list.push(account);
    }

    pub fn new_restored_account(user: UserId) -> Account {
        Account::new(user)
    }
}
