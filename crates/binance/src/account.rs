//! The account: balances, commission rates, and the caller's trades.

use serde::Serialize;
use utoipa::ToSchema;

/// One asset's balance; decimal strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Balance {
    #[schema(example = "BTC")]
    pub asset: String,
    /// Available.
    #[schema(example = "0.50000000")]
    pub free: String,
    /// Reserved by open orders (and pending withdrawals).
    #[schema(example = "0.00000000")]
    pub locked: String,
}

/// Four commission rates, each a decimal string (`0.00100000` = 0.1 %).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct CommissionRates {
    #[schema(example = "0.00000000")]
    pub buyer: String,
    #[schema(example = "0.00100000")]
    pub maker: String,
    #[schema(example = "0.00000000")]
    pub seller: String,
    #[schema(example = "0.00100000")]
    pub taker: String,
}

impl CommissionRates {
    /// Maker and taker rates in parts per million; no buyer or seller surcharge.
    pub fn of(maker_ppm: u32, taker_ppm: u32) -> CommissionRates {
        CommissionRates {
            buyer: rate(0),
            maker: rate(maker_ppm),
            seller: rate(0),
            taker: rate(taker_ppm),
        }
    }
}

/// A fee rate in parts per million as Binance writes it: `0.00100000` for 0.1 %.
pub fn rate(ppm: u32) -> String {
    flowex_types::format_scaled(u64::from(ppm) * 100, 8)
}

/// `account`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    /// `SPOT`.
    pub account_type: String,
    pub balances: Vec<Balance>,
    pub brokered: bool,
    pub buyer_commission: u32,
    pub can_deposit: bool,
    pub can_trade: bool,
    pub can_withdraw: bool,
    pub commission_rates: CommissionRates,
    /// In basis points (10 = 0.1 %).
    pub maker_commission: u32,
    /// `["SPOT"]`.
    pub permissions: Vec<String>,
    pub prevent_sor: bool,
    pub require_self_trade_prevention: bool,
    pub seller_commission: u32,
    /// In basis points.
    pub taker_commission: u32,
    /// The user's id.
    pub uid: u64,
    /// Ms since the Unix epoch.
    pub update_time: u64,
}

/// Binance's discount block (no discounts at FlowEx).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Discount {
    #[schema(example = "0.00000000")]
    pub discount: String,
    pub discount_asset: String,
    pub enabled_for_account: bool,
    pub enabled_for_symbol: bool,
}

/// `GET /api/v3/account/commission`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Commission {
    pub discount: Discount,
    pub standard_commission: CommissionRates,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    pub tax_commission: CommissionRates,
}

impl Commission {
    /// `symbol`'s maker and taker rates (parts per million); no tax, no discount.
    pub fn new(symbol: &str, maker_ppm: u32, taker_ppm: u32) -> Commission {
        Commission {
            discount: Discount {
                discount: rate(0),
                discount_asset: String::new(),
                enabled_for_account: false,
                enabled_for_symbol: false,
            },
            standard_commission: CommissionRates::of(maker_ppm, taker_ppm),
            symbol: symbol.to_string(),
            tax_commission: CommissionRates::of(0, 0),
        }
    }
}

/// One of the caller's trades. Decimals are strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyTrade {
    /// The caller's fee, in the asset received.
    pub commission: String,
    pub commission_asset: String,
    /// The trade's id (per symbol).
    pub id: u64,
    /// Always true.
    pub is_best_match: bool,
    pub is_buyer: bool,
    pub is_maker: bool,
    /// The caller's order in this trade.
    pub order_id: u64,
    /// Always -1.
    pub order_list_id: i64,
    pub price: String,
    pub qty: String,
    pub quote_qty: String,
    #[schema(example = "BTCUSDT")]
    pub symbol: String,
    /// Ms since the Unix epoch.
    pub time: i64,
}

/// `POST /api/v3/userDataStream`: the listenKey of the caller's user data
/// stream (`/ws/<listenKey>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenKey {
    /// 60 letters and digits.
    #[schema(example = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a")]
    pub listen_key: String,
}

/// The last event of a listenKey stream whose key expired (no keepalive
/// for the key's lifetime); the server closes the connection after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListenKeyExpired {
    /// Event time (ms).
    #[serde(rename = "E")]
    pub event_time: u64,
    /// `listenKeyExpired`.
    #[serde(rename = "e")]
    pub event: &'static str,
    #[serde(rename = "listenKey")]
    pub listen_key: String,
}

impl ListenKeyExpired {
    pub fn new(listen_key: &str, time: u64) -> ListenKeyExpired {
        ListenKeyExpired {
            event_time: time,
            event: "listenKeyExpired",
            listen_key: listen_key.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::sorted_json;

    #[test]
    fn account_bodies_are_written_in_sorted_key_order() {
        assert_eq!(
            sorted_json(&Commission::new("BTCUSDT", 1000, 2000)),
            r#"{"discount":{"discount":"0.00000000","discountAsset":"","enabledForAccount":false,"enabledForSymbol":false},"standardCommission":{"buyer":"0.00000000","maker":"0.00100000","seller":"0.00000000","taker":"0.00200000"},"symbol":"BTCUSDT","taxCommission":{"buyer":"0.00000000","maker":"0.00000000","seller":"0.00000000","taker":"0.00000000"}}"#
        );
        let account = AccountInfo {
            account_type: "SPOT".into(),
            balances: vec![Balance {
                asset: "BTC".into(),
                free: "1".into(),
                locked: "0".into(),
            }],
            brokered: false,
            buyer_commission: 0,
            can_deposit: true,
            can_trade: true,
            can_withdraw: true,
            commission_rates: CommissionRates::of(1000, 1000),
            maker_commission: 10,
            permissions: vec!["SPOT".into()],
            prevent_sor: false,
            require_self_trade_prevention: false,
            seller_commission: 0,
            taker_commission: 10,
            uid: 1,
            update_time: 2,
        };
        sorted_json(&account);
        let trade = MyTrade {
            commission: "0".into(),
            commission_asset: "BTC".into(),
            id: 1,
            is_best_match: true,
            is_buyer: true,
            is_maker: false,
            order_id: 1,
            order_list_id: -1,
            price: "1".into(),
            qty: "1".into(),
            quote_qty: "1".into(),
            symbol: "BTCUSDT".into(),
            time: 1,
        };
        sorted_json(&trade);
        assert_eq!(
            sorted_json(&ListenKeyExpired::new("k", 5)),
            r#"{"E":5,"e":"listenKeyExpired","listenKey":"k"}"#
        );
        sorted_json(&ListenKey {
            listen_key: "k".into(),
        });
    }
}
