//! The storage test suite. Every test runs twice: on SQLite and on
//! PostgreSQL (see `common`).

mod common;

use flowex_store::*;
use flowex_types::{OrderStatus, OrderType, Side, StpMode, TimeInForce};
use std::collections::HashSet;

const T0: i64 = 1_750_000_000_123;
const MINUTE: i64 = 60_000;

async fn user(store: &Store, email: &str) -> User {
    store
        .create_user(&NewUser {
            email,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            role: Role::User,
            now: T0,
        })
        .await
        .expect("create user")
}

both_backends!(
    migrations_are_idempotent,
    email_is_unique_in_any_case,
    user_fields_and_timestamps_round_trip,
    totp_steps_and_backup_codes_are_single_use,
    refresh_rotation_and_reuse_detection,
    concurrent_use_of_one_refresh_token_has_one_winner,
    sessions_list_and_revoke,
    login_failures_count_in_windows,
    audit_log_filters,
    api_keys_lookup_and_delete,
    u64_amounts_round_trip_exactly,
    ids_beyond_bigint_are_refused,
    ledger_refuses_unbalanced_entries,
    projector_applies_each_seq_once,
    projector_concurrent_batches_apply_once,
    order_and_trade_history_queries,
    deposits_are_idempotent,
    withdrawal_state_machine,
    concurrent_withdrawal_completion_has_one_winner,
    faucet_cap_holds_under_concurrency,
    mirrors_and_fee_tiers,
    listen_keys_one_per_holder_expire_and_close,
);

async fn migrations_are_idempotent(store: Store) {
    // The harness migrated once already.
    store.migrate().await.expect("second run");
    store.migrate().await.expect("third run");
    store.ping().await.unwrap();
    let u = user(&store, "a@example.com").await;
    assert_eq!(u.id, 1, "ids start at 1 (0 is the engine's fee account)");
}

async fn email_is_unique_in_any_case(store: Store) {
    let a = user(&store, "Alice@Example.COM").await;
    assert_eq!(a.email, "alice@example.com");
    let err = store
        .create_user(&NewUser {
            email: "ALICE@example.com",
            password_hash: "x",
            role: Role::Admin,
            now: T0,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmailTaken), "{err:?}");
    let found = store.user_by_email("aLiCe@EXAMPLE.com").await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(a.id));
    assert!(store
        .user_by_email("bob@example.com")
        .await
        .unwrap()
        .is_none());
    // A different email still works, and ids are distinct.
    let b = user(&store, "bob@example.com").await;
    assert_ne!(a.id, b.id);
}

async fn user_fields_and_timestamps_round_trip(store: Store) {
    let u = user(&store, "carol@example.com").await;
    assert_eq!(u.created_at, T0);
    assert_eq!(u.role, Role::User);
    assert!(!u.frozen && !u.totp_enabled);
    assert_eq!(u.totp_secret, None);

    let later = 4_102_444_800_000; // 2100-01-01
    store.set_frozen(u.id, true, later).await.unwrap();
    store.set_role(u.id, Role::Admin, later).await.unwrap();
    store
        .set_password_hash(u.id, "new-hash", later)
        .await
        .unwrap();
    let v = store.user_by_id(u.id).await.unwrap().unwrap();
    assert!(v.frozen);
    assert_eq!(v.role, Role::Admin);
    assert_eq!(v.password_hash, "new-hash");
    assert_eq!((v.created_at, v.updated_at), (T0, later));
    // A rehash is not a new password: its age still counts from creation.
    assert_eq!(v.password_changed_at, T0);
    store.set_password(u.id, "chosen", later + 1).await.unwrap();
    let w = store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(w.password_hash, "chosen");
    assert_eq!(
        (w.password_changed_at, w.updated_at),
        (later + 1, later + 1)
    );
    store.set_frozen(u.id, false, later).await.unwrap();
    assert!(!store.user_by_id(u.id).await.unwrap().unwrap().frozen);

    // Debug never shows the hash or the TOTP secret.
    store
        .set_totp_secret(u.id, "SEALED-SECRET", later)
        .await
        .unwrap();
    let dbg = format!("{:?}", store.user_by_id(u.id).await.unwrap().unwrap());
    assert!(
        !dbg.contains("new-hash") && !dbg.contains("SEALED"),
        "{dbg}"
    );

    assert!(matches!(
        store.set_frozen(999_999, true, later).await,
        Err(StoreError::NotFound { .. })
    ));
    let page = store.list_users(None, 10).await.unwrap();
    assert_eq!(page.len(), 1);
}

async fn totp_steps_and_backup_codes_are_single_use(store: Store) {
    let u = user(&store, "dave@example.com").await;
    assert!(matches!(
        store.enable_totp(u.id, T0).await,
        Err(StoreError::NotFound { .. })
    ));
    store.set_totp_secret(u.id, "secret", T0).await.unwrap();
    store.enable_totp(u.id, T0).await.unwrap();
    let v = store.user_by_id(u.id).await.unwrap().unwrap();
    assert!(v.totp_enabled);
    assert_eq!(v.totp_secret.as_deref(), Some("secret"));

    assert!(store.accept_totp_step(u.id, 58_333_333).await.unwrap());
    assert!(
        !store.accept_totp_step(u.id, 58_333_333).await.unwrap(),
        "replay"
    );
    assert!(
        !store.accept_totp_step(u.id, 58_333_332).await.unwrap(),
        "older step"
    );
    assert!(store.accept_totp_step(u.id, 58_333_334).await.unwrap());
    let v = store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(v.totp_last_step, Some(58_333_334));

    let codes: Vec<String> = (0..10).map(|i| format!("hash-{i}")).collect();
    store.replace_backup_codes(u.id, &codes, T0).await.unwrap();
    assert_eq!(store.unused_backup_codes(u.id).await.unwrap().len(), 10);
    assert!(store.use_backup_code(u.id, "hash-3", T0).await.unwrap());
    assert!(!store.use_backup_code(u.id, "hash-3", T0).await.unwrap());
    assert!(!store.use_backup_code(u.id, "nope", T0).await.unwrap());
    assert_eq!(store.unused_backup_codes(u.id).await.unwrap().len(), 9);

    store.disable_totp(u.id, T0).await.unwrap();
    let v = store.user_by_id(u.id).await.unwrap().unwrap();
    assert!(!v.totp_enabled && v.totp_secret.is_none() && v.totp_last_step.is_none());
    assert!(store.unused_backup_codes(u.id).await.unwrap().is_empty());
}

fn login<'a>(user_id: u64, hash: &'a str, now: i64) -> NewSession<'a> {
    NewSession {
        user_id,
        token_hash: hash,
        expires_at: now + 30 * 24 * 60 * MINUTE,
        user_agent: Some("test/1.0"),
        ip: Some("127.0.0.1"),
        now,
    }
}

fn rotation<'a>(presented: &'a str, new: &'a str, now: i64) -> Rotation<'a> {
    Rotation {
        presented_hash: presented,
        new_hash: new,
        new_expires_at: now + 30 * 24 * 60 * MINUTE,
        user_agent: None,
        ip: Some("10.0.0.2"),
        now,
    }
}

async fn refresh_rotation_and_reuse_detection(store: Store) {
    let u = user(&store, "erin@example.com").await;
    let s = store.create_session(&login(u.id, "h1", T0)).await.unwrap();
    assert_eq!((s.user_id, s.created_at), (u.id, T0));
    assert!(matches!(
        store.create_session(&login(u.id, "h1", T0)).await,
        Err(StoreError::Duplicate { .. })
    ));

    let RotateOutcome::Rotated(s2) = store
        .rotate_refresh_token(&rotation("h1", "h2", T0 + 1))
        .await
        .unwrap()
    else {
        panic!("first rotation must succeed")
    };
    assert_eq!(s2.id, s.id);
    assert_eq!(s2.last_used_at, T0 + 1);
    assert_eq!(s2.ip.as_deref(), Some("10.0.0.2"));
    assert_eq!(
        s2.user_agent.as_deref(),
        Some("test/1.0"),
        "kept when not given"
    );
    let t2 = store.refresh_token("h2").await.unwrap().unwrap();
    assert_eq!(t2.parent_hash.as_deref(), Some("h1"));
    assert_eq!(t2.session_id, s.id);
    assert_eq!(
        store.refresh_token("h1").await.unwrap().unwrap().rotated_at,
        Some(T0 + 1)
    );

    assert!(matches!(
        store
            .rotate_refresh_token(&rotation("h2", "h3", T0 + 2))
            .await
            .unwrap(),
        RotateOutcome::Rotated(_)
    ));
    // h2 was rotated: presenting it again is reuse and kills the family.
    assert_eq!(
        store
            .rotate_refresh_token(&rotation("h2", "h4", T0 + 3))
            .await
            .unwrap(),
        RotateOutcome::Reused {
            session_id: s.id,
            user_id: u.id
        }
    );
    let revoked = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(T0 + 3));
    assert_eq!(revoked.revoke_reason.as_deref(), Some("reuse"));
    // The current token of the family is dead too.
    assert_eq!(
        store
            .rotate_refresh_token(&rotation("h3", "h5", T0 + 4))
            .await
            .unwrap(),
        RotateOutcome::Revoked {
            session_id: s.id,
            user_id: u.id
        }
    );
    assert!(
        store.refresh_token("h4").await.unwrap().is_none(),
        "no child on reuse"
    );
    assert_eq!(
        store
            .rotate_refresh_token(&rotation("nope", "h6", T0))
            .await
            .unwrap(),
        RotateOutcome::NotFound
    );

    // Expiry.
    let mut short = login(u.id, "e1", T0);
    short.expires_at = T0 + 10;
    let se = store.create_session(&short).await.unwrap();
    assert_eq!(
        store
            .rotate_refresh_token(&rotation("e1", "e2", T0 + 10))
            .await
            .unwrap(),
        RotateOutcome::Expired {
            session_id: se.id,
            user_id: u.id
        }
    );

    // Revoking a family by one of its tokens.
    let sf = store.create_session(&login(u.id, "f1", T0)).await.unwrap();
    assert!(store.revoke_family("f1", T0 + 5, "admin").await.unwrap());
    assert!(!store.revoke_family("f1", T0 + 6, "admin").await.unwrap());
    assert_eq!(
        store
            .session(sf.id)
            .await
            .unwrap()
            .unwrap()
            .revoke_reason
            .as_deref(),
        Some("admin")
    );
}

async fn concurrent_use_of_one_refresh_token_has_one_winner(store: Store) {
    let u = user(&store, "frank@example.com").await;
    let s = store
        .create_session(&login(u.id, "root", T0))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let new = format!("child-{i}");
            store
                .rotate_refresh_token(&rotation("root", &new, T0 + 1))
                .await
                .expect("rotate")
        }));
    }
    let mut rotated = 0;
    let mut reused = 0;
    for t in tasks {
        match t.await.unwrap() {
            RotateOutcome::Rotated(_) => rotated += 1,
            RotateOutcome::Reused { .. } => reused += 1,
            RotateOutcome::Revoked { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1, "exactly one concurrent use wins");
    assert!(reused >= 1, "the losers are reuse");
    // The reuse revoked the family, the winner's child included.
    assert!(store
        .session(s.id)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    assert!(store.list_sessions(u.id, T0 + 2).await.unwrap().is_empty());
}

async fn sessions_list_and_revoke(store: Store) {
    let u = user(&store, "gina@example.com").await;
    let other = user(&store, "hank@example.com").await;
    let s1 = store.create_session(&login(u.id, "a1", T0)).await.unwrap();
    let s2 = store
        .create_session(&login(u.id, "b1", T0 + 1))
        .await
        .unwrap();
    let s3 = store
        .create_session(&login(u.id, "c1", T0 + 2))
        .await
        .unwrap();
    let so = store
        .create_session(&login(other.id, "o1", T0))
        .await
        .unwrap();

    let live: Vec<u64> = store
        .list_sessions(u.id, T0 + 3)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![s3.id, s2.id, s1.id], "newest first");

    // BOLA: another user cannot revoke it.
    assert!(!store
        .revoke_session(other.id, s1.id, T0 + 4, "logout")
        .await
        .unwrap());
    assert!(store
        .revoke_session(u.id, s1.id, T0 + 4, "logout")
        .await
        .unwrap());
    assert!(!store
        .revoke_session(u.id, s1.id, T0 + 5, "logout")
        .await
        .unwrap());

    assert_eq!(
        store
            .revoke_user_sessions(u.id, Some(s3.id), T0 + 6, "password_change")
            .await
            .unwrap(),
        1
    );
    let live: Vec<u64> = store
        .list_sessions(u.id, T0 + 7)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![s3.id]);
    assert_eq!(
        store.list_sessions(other.id, T0 + 7).await.unwrap().len(),
        1
    );
    // Expired sessions are not listed, and purging removes them with their tokens.
    let far = T0 + 31 * 24 * 60 * MINUTE;
    assert!(store.list_sessions(u.id, far).await.unwrap().is_empty());
    assert_eq!(store.purge_sessions(far).await.unwrap(), 4);
    assert!(store.refresh_token("o1").await.unwrap().is_none());
    assert!(store.session(so.id).await.unwrap().is_none());
}

async fn login_failures_count_in_windows(store: Store) {
    let window = 15 * MINUTE;
    // Five failures a minute apart, emails in mixed case, two IPs.
    for i in 0..5 {
        let email = if i % 2 == 0 {
            "Ivy@Example.com"
        } else {
            "ivy@example.com"
        };
        let ip = if i < 3 { "192.0.2.1" } else { "192.0.2.2" };
        store
            .record_login_failure(Some(email), Some(ip), T0 + i * MINUTE)
            .await
            .unwrap();
    }
    // Unknown-email failure counts for the IP only when no email is given.
    store
        .record_login_failure(None, Some("192.0.2.1"), T0 + 5 * MINUTE)
        .await
        .unwrap();

    let now = T0 + 5 * MINUTE;
    let acct = store
        .login_failures(FailureScope::Account, "IVY@example.com", now - window)
        .await
        .unwrap();
    assert_eq!(
        acct,
        FailureStats {
            count: 5,
            first_at: Some(T0),
            last_at: Some(T0 + 4 * MINUTE)
        }
    );
    let ip = store
        .login_failures(FailureScope::Ip, "192.0.2.1", now - window)
        .await
        .unwrap();
    assert_eq!(ip.count, 4);
    // Sliding window: later, the early failures fall out.
    let later = T0 + 17 * MINUTE + 1;
    let acct = store
        .login_failures(FailureScope::Account, "ivy@example.com", later - window)
        .await
        .unwrap();
    assert_eq!(acct.count, 2);
    let none = store
        .login_failures(FailureScope::Account, "nobody@example.com", 0)
        .await
        .unwrap();
    assert_eq!(none, FailureStats::default());

    // Success resets the account, not the IP.
    assert_eq!(
        store
            .clear_login_failures(FailureScope::Account, "IVY@EXAMPLE.COM")
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        store
            .login_failures(FailureScope::Account, "ivy@example.com", 0)
            .await
            .unwrap()
            .count,
        0
    );
    assert_eq!(
        store
            .login_failures(FailureScope::Ip, "192.0.2.1", 0)
            .await
            .unwrap()
            .count,
        4
    );
    assert_eq!(
        store.purge_login_failures(T0 + 4 * MINUTE).await.unwrap(),
        4
    );
    assert_eq!(
        store
            .login_failures(FailureScope::Ip, "192.0.2.2", 0)
            .await
            .unwrap()
            .count,
        1
    );
}

async fn audit_log_filters(store: Store) {
    let entries = [
        (T0, Some(1), "login", AuditOutcome::Ok),
        (T0 + 1, Some(1), "api_key.create", AuditOutcome::Ok),
        (T0 + 2, Some(2), "login", AuditOutcome::Denied),
        (T0 + 3, None, "login", AuditOutcome::Denied),
        (T0 + 4, Some(1), "login", AuditOutcome::Error),
    ];
    for (at, user_id, action, result) in entries {
        store
            .audit(&NewAuditEntry {
                at,
                user_id,
                actor_ip: Some("203.0.113.9"),
                user_agent: Some("curl/8"),
                action,
                target: user_id.map(|_| "user:1"),
                result,
                detail: Some(r#"{"k":"v"}"#),
            })
            .await
            .unwrap();
    }
    let all = store.query_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    assert_eq!(all[0].detail.as_deref(), Some(r#"{"k":"v"}"#));
    assert_eq!(all[0].actor_ip.as_deref(), Some("203.0.113.9"));

    let by_user = store
        .query_audit(&AuditQuery {
            user_id: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        by_user.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![T0 + 4, T0 + 1, T0]
    );
    let logins = store
        .query_audit(&AuditQuery {
            action: Some("login".into()),
            from: Some(T0 + 1),
            to: Some(T0 + 4),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        logins.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![T0 + 3, T0 + 2]
    );
    assert_eq!(logins[0].user_id, None);
    let denied = store
        .query_audit(&AuditQuery {
            result: Some(AuditOutcome::Denied),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].at, T0 + 3);
    let combined = store
        .query_audit(&AuditQuery {
            user_id: Some(1),
            action: Some("login".into()),
            result: Some(AuditOutcome::Ok),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0].at, T0);
}

async fn api_keys_lookup_and_delete(store: Store) {
    let u = user(&store, "jay@example.com").await;
    let other = user(&store, "kim@example.com").await;
    let sealed: Vec<u8> = (0..=255u8).rev().chain([0, 0, 255]).collect();
    let new = NewApiKey {
        user_id: u.id,
        api_key: "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        secret_sealed: &sealed,
        label: "bot",
        permissions: "READ,TRADE",
        ip_allow: "10.0.0.0/8,192.0.2.1/32",
        now: T0,
    };
    let k = store.create_api_key(&new).await.unwrap();
    assert_eq!(k.secret_sealed, sealed);
    assert!(
        !format!("{k:?}").contains("255"),
        "Debug hides the sealed secret"
    );
    assert!(matches!(
        store
            .create_api_key(&NewApiKey {
                user_id: other.id,
                ..new
            })
            .await,
        Err(StoreError::Duplicate { .. })
    ));
    let found = store.api_key(new.api_key).await.unwrap().unwrap();
    assert_eq!(found, k);
    assert_eq!(
        (found.permissions.as_str(), found.ip_allow.as_str()),
        ("READ,TRADE", "10.0.0.0/8,192.0.2.1/32")
    );
    assert!(store.api_key("unknown").await.unwrap().is_none());

    store.touch_api_key(k.id, T0 + 9).await.unwrap();
    assert_eq!(
        store
            .api_key(new.api_key)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(T0 + 9)
    );
    assert_eq!(store.list_api_keys(u.id).await.unwrap().len(), 1);
    assert!(store.list_api_keys(other.id).await.unwrap().is_empty());

    // The key's listenKey goes with it; the user's session key stays.
    let holder = format!("key:{}", k.id);
    for (key, holder) in [
        ("lk-of-key", holder.as_str()),
        ("lk-of-session", "session:1"),
    ] {
        let opened = store
            .open_listen_key(&listen(key, u.id, holder, T0))
            .await
            .unwrap();
        assert!(matches!(opened, Opened::Created(_)), "{opened:?}");
    }
    assert!(
        !store.delete_api_key(other.id, k.id, T0).await.unwrap(),
        "not the owner"
    );
    assert!(store.listen_key("lk-of-key").await.unwrap().is_some());
    assert!(store.delete_api_key(u.id, k.id, T0 + 10).await.unwrap());
    assert_eq!(store.listen_key("lk-of-key").await.unwrap(), None);
    assert!(store.listen_key("lk-of-session").await.unwrap().is_some());
    assert!(!store.delete_api_key(u.id, k.id, T0 + 11).await.unwrap());
    assert!(store.api_key(new.api_key).await.unwrap().is_none());
    assert!(store.list_api_keys(u.id).await.unwrap().is_empty());
}

fn order(id: u64, user_id: u64, time: i64) -> OrderRecord {
    OrderRecord {
        id,
        user_id,
        market_id: 1,
        symbol: "BTCUSDT".into(),
        client_order_id: Some(format!("c-{id}")),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        price: 6_500_000,
        orig_qty: 100,
        orig_quote_qty: 0,
        executed_qty: 0,
        cum_quote_qty: 0,
        status: OrderStatus::New,
        stop_price: 0,
        stp_mode: StpMode::ExpireMaker,
        time,
        update_time: time,
        working_time: Some(time),
        end_reason: None,
        seq: id,
    }
}

fn trade(id: u64, maker: (u64, u64), taker: (u64, u64), time: i64) -> TradeRecord {
    TradeRecord {
        market_id: 1,
        id,
        symbol: "BTCUSDT".into(),
        price: 6_500_000,
        qty: 10,
        quote_qty: 65_000_000,
        maker_order_id: maker.0,
        maker_user_id: maker.1,
        taker_order_id: taker.0,
        taker_user_id: taker.1,
        buyer_is_maker: true,
        maker_fee: 1,
        maker_fee_asset_id: 1,
        taker_fee: 65,
        taker_fee_asset_id: 2,
        time,
        seq: id,
    }
}

async fn u64_amounts_round_trip_exactly(store: Store) {
    let max = u64::MAX;
    let mut o = order(7, 3, T0);
    o.price = max;
    o.orig_qty = max;
    o.orig_quote_qty = max - 1;
    o.cum_quote_qty = max;
    o.stop_price = max;
    let mut t = trade(1, (7, 3), (8, 4), T0);
    (t.price, t.qty, t.quote_qty, t.maker_fee, t.taker_fee) = (max, max, max, max, max);
    let b = BalanceRecord {
        user_id: 3,
        asset_id: 1,
        available: max,
        locked: max - 1,
        seq: 1,
    };
    let legs = vec![
        LedgerEntry {
            seq: 1,
            idx: 0,
            at: T0,
            account: LedgerAccount::User(3),
            asset_id: 1,
            amount: i128::from(max),
            cause: LedgerCause::Deposit,
            reference: Some("deposit:k".into()),
        },
        LedgerEntry {
            seq: 1,
            idx: 1,
            at: T0,
            account: LedgerAccount::Custody,
            asset_id: 1,
            amount: -i128::from(max),
            cause: LedgerCause::Deposit,
            reference: None,
        },
    ];
    let mut tx = store.begin().await.unwrap();
    tx.insert_order(&o).await.unwrap();
    tx.insert_trade(&t).await.unwrap();
    tx.upsert_balance(&b).await.unwrap();
    tx.insert_ledger_entries(&legs).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(store.order(3, 7).await.unwrap().unwrap(), o);
    assert_eq!(
        store.list_market_trades(1, None, 10).await.unwrap(),
        vec![t]
    );
    assert_eq!(store.balances(3).await.unwrap(), vec![b]);
    assert_eq!(
        store.ledger_for_user(3, None, None, 10).await.unwrap(),
        vec![legs[0].clone()]
    );
    let totals = store.ledger_totals().await.unwrap();
    assert_eq!(totals[&(LedgerAccount::User(3), 1)], i128::from(max));
    assert_eq!(totals[&(LedgerAccount::Custody, 1)], -i128::from(max));

    let (d, created) = store
        .record_deposit(&NewDeposit {
            idem_key: "big",
            user_id: 3,
            asset_id: 1,
            amount: max,
            source: "admin",
            reference: None,
            now: T0,
        })
        .await
        .unwrap();
    assert!(created);
    assert_eq!(d.amount, max);
    let w1 = store
        .create_withdrawal(&NewWithdrawal {
            idem_key: None,
            user_id: 3,
            asset_id: 1,
            amount: max,
            fee: max,
            destination: "addr",
            now: T0,
        })
        .await
        .unwrap();
    assert_eq!((w1.amount, w1.fee), (max, max));
    store
        .create_withdrawal(&NewWithdrawal {
            idem_key: None,
            user_id: 3,
            asset_id: 1,
            amount: max,
            fee: 0,
            destination: "addr",
            now: T0,
        })
        .await
        .unwrap();
    assert_eq!(
        store.withdrawn_since(3, 1, T0).await.unwrap(),
        2 * u128::from(max)
    );
}

async fn ids_beyond_bigint_are_refused(store: Store) {
    let big = i64::MAX as u64 + 1;
    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_order(&order(big, 1, T0)).await.unwrap_err();
    assert!(matches!(err, StoreError::OutOfRange { .. }), "{err:?}");
    assert!(matches!(
        store.user_by_id(big).await,
        Err(StoreError::OutOfRange { .. })
    ));
    // The largest BIGINT is fine.
    let mut tx2 = store.begin().await.unwrap();
    drop(tx);
    tx2.insert_order(&order(i64::MAX as u64, 1, T0))
        .await
        .unwrap();
    tx2.commit().await.unwrap();
    assert_eq!(
        store.order(1, i64::MAX as u64).await.unwrap().unwrap().id,
        i64::MAX as u64
    );
}

async fn ledger_refuses_unbalanced_entries(store: Store) {
    let leg = |idx, account, amount| LedgerEntry {
        seq: 5,
        idx,
        at: T0,
        account,
        asset_id: 2,
        amount,
        cause: LedgerCause::Trade,
        reference: None,
    };
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .insert_ledger_entries(&[
            leg(0, LedgerAccount::User(1), 10),
            leg(1, LedgerAccount::User(2), -9),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unbalanced {
                asset_id: 2,
                sum: 1
            }
        ),
        "{err:?}"
    );
    let too_big = i128::from(u64::MAX) + 1;
    let err = tx
        .insert_ledger_entries(&[
            leg(0, LedgerAccount::User(1), too_big),
            leg(1, LedgerAccount::Fees, -too_big),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutOfRange { .. }), "{err:?}");
    tx.insert_ledger_entries(&[
        leg(0, LedgerAccount::User(1), -10),
        leg(1, LedgerAccount::User(2), 9),
        leg(2, LedgerAccount::Fees, 1),
    ])
    .await
    .unwrap();
    // The same (seq, idx) twice is a duplicate, never a second posting.
    let err = tx
        .insert_ledger_entries(&[leg(0, LedgerAccount::User(1), 0)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    drop(tx); // rolled back
    assert!(store.ledger_totals().await.unwrap().is_empty());
}

async fn count_trades(store: &Store) -> usize {
    store
        .list_market_trades(1, Some(0), 1000)
        .await
        .unwrap()
        .len()
}

async fn projector_applies_each_seq_once(store: Store) {
    assert_eq!(store.projector_offset("trades").await.unwrap(), 0);
    let apply = |seq: u64| {
        let store = store.clone();
        async move {
            let t = trade(seq, (1, 1), (2, 2), T0);
            store
                .apply_batch_at("trades", seq, move |tx| {
                    Box::pin(async move { tx.insert_trade(&t).await })
                })
                .await
        }
    };
    assert_eq!(apply(1).await.unwrap(), BatchOutcome::Applied);
    assert_eq!(
        apply(1).await.unwrap(),
        BatchOutcome::AlreadyApplied { last_applied: 1 }
    );
    assert_eq!(count_trades(&store).await, 1, "applied once");
    assert_eq!(store.projector_offset("trades").await.unwrap(), 1);

    let err = apply(3).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::ProjectorGap {
                last_applied: 1,
                first: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(count_trades(&store).await, 1);

    // A failing batch leaves no writes and no offset behind.
    let err = store
        .apply_batch_at("trades", 2, |tx| {
            Box::pin(async move {
                tx.insert_trade(&trade(2, (1, 1), (2, 2), T0)).await?;
                Err(StoreError::NotFound {
                    entity: "simulated failure",
                })
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert_eq!(store.projector_offset("trades").await.unwrap(), 1);
    assert_eq!(count_trades(&store).await, 1);

    // Ranges: 2..=4 applies; 3..=5 straddles; 5..=6 follows.
    let out = store
        .apply_batch("trades", 2..=4, |tx| {
            Box::pin(async move {
                for id in 2..=4 {
                    tx.insert_trade(&trade(id, (1, 1), (2, 2), T0)).await?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    assert_eq!(out, BatchOutcome::Applied);
    let err = store
        .apply_batch("trades", 3..=5, |_| Box::pin(async { Ok(()) }))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::ProjectorOverlap {
                last_applied: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        store
            .apply_batch("trades", 2..=3, |_| Box::pin(async { Ok(()) }))
            .await
            .unwrap(),
        BatchOutcome::AlreadyApplied { last_applied: 4 }
    );
    // The explicit form, and independent offsets per projector name.
    let mut ptx = store
        .begin_projection("trades", 5..=6)
        .await
        .unwrap()
        .unwrap();
    ptx.insert_trade(&trade(5, (1, 1), (2, 2), T0))
        .await
        .unwrap();
    ptx.commit().await.unwrap();
    assert_eq!(store.projector_offset("trades").await.unwrap(), 6);
    assert_eq!(store.projector_offset("ledger").await.unwrap(), 0);
    assert!(store
        .begin_projection("ledger", 1..=1)
        .await
        .unwrap()
        .is_some());
    assert!(matches!(
        store.begin_projection("x", 0..=0).await,
        Err(StoreError::OutOfRange { .. })
    ));
    assert_eq!(count_trades(&store).await, 5);
}

async fn projector_concurrent_batches_apply_once(store: Store) {
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .apply_batch_at("orders", 1, |tx| {
                    Box::pin(async move { tx.insert_order(&order(1, 1, T0)).await })
                })
                .await
                .expect("apply")
        }));
    }
    let mut applied = 0;
    for t in tasks {
        if t.await.unwrap() == BatchOutcome::Applied {
            applied += 1;
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(store.projector_offset("orders").await.unwrap(), 1);
}

async fn order_and_trade_history_queries(store: Store) {
    let mut tx = store.begin().await.unwrap();
    for id in 1..=5 {
        tx.insert_order(&order(id, 1, T0 + id as i64 * 1000))
            .await
            .unwrap();
    }
    tx.insert_order(&order(6, 2, T0)).await.unwrap();
    tx.commit().await.unwrap();
    // A failed operation poisons the transaction on both databases.
    let mut tx = store.begin().await.unwrap();
    tx.insert_order(&order(7, 2, T0)).await.unwrap();
    assert!(matches!(
        tx.insert_order(&order(6, 2, T0)).await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(tx.commit().await, Err(StoreError::TxAborted)));
    assert!(store.order(2, 7).await.unwrap().is_none(), "rolled back");

    let mut tx = store.begin().await.unwrap();
    tx.update_order(&OrderUpdate {
        id: 2,
        status: OrderStatus::PartiallyFilled,
        executed_qty: 40,
        cum_quote_qty: 260_000_000,
        orig_qty: Some(90),
        price: None,
        update_time: T0 + 9000,
        working_time: None,
        end_reason: None,
        seq: 10,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.update_order(&OrderUpdate {
            id: 99,
            status: OrderStatus::Filled,
            executed_qty: 0,
            cum_quote_qty: 0,
            orig_qty: None,
            price: None,
            update_time: 0,
            working_time: None,
            end_reason: None,
            seq: 1
        })
        .await,
        Err(StoreError::NotFound { .. })
    ));
    drop(tx);
    let o2 = store.order(1, 2).await.unwrap().unwrap();
    assert_eq!(
        (
            o2.status,
            o2.executed_qty,
            o2.orig_qty,
            o2.price,
            o2.update_time
        ),
        (OrderStatus::PartiallyFilled, 40, 90, 6_500_000, T0 + 9000)
    );
    assert_eq!(o2.working_time, Some(T0 + 2000), "kept");

    // BOLA: user 2 cannot read user 1's order, by id or client id.
    assert!(store.order(2, 2).await.unwrap().is_none());
    assert!(store
        .order_by_client_id(2, 1, "c-2")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .order_by_client_id(1, 1, "c-2")
            .await
            .unwrap()
            .unwrap()
            .id,
        2
    );

    let ids = |v: Vec<OrderRecord>| v.iter().map(|o| o.id).collect::<Vec<_>>();
    let q = OrderQuery {
        user_id: 1,
        market_id: Some(1),
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_orders(&q).await.unwrap()),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        ids(store
            .list_orders(&OrderQuery {
                limit: 2,
                ..q.clone()
            })
            .await
            .unwrap()),
        vec![4, 5],
        "newest, ascending"
    );
    assert_eq!(
        ids(store
            .list_orders(&OrderQuery {
                from_id: Some(2),
                limit: 2,
                ..q.clone()
            })
            .await
            .unwrap()),
        vec![2, 3]
    );
    assert_eq!(
        ids(store
            .list_orders(&OrderQuery {
                start_time: Some(T0 + 2000),
                end_time: Some(T0 + 4000),
                ..q.clone()
            })
            .await
            .unwrap()),
        vec![2, 3, 4]
    );
    assert_eq!(
        ids(store
            .list_orders(&OrderQuery {
                statuses: vec![OrderStatus::PartiallyFilled, OrderStatus::Filled],
                ..q.clone()
            })
            .await
            .unwrap()),
        vec![2]
    );

    // Trades: user 1 maker vs user 2 taker, and a self-trade of user 1.
    let mut tx = store.begin().await.unwrap();
    tx.insert_trade(&trade(1, (1, 1), (6, 2), T0 + 100))
        .await
        .unwrap();
    tx.insert_trade(&trade(2, (3, 1), (4, 1), T0 + 200))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_trade(&trade(2, (3, 1), (4, 1), T0)).await,
        Err(StoreError::Duplicate { .. })
    ));
    drop(tx);
    let mine = store
        .list_user_trades(&TradeQuery {
            user_id: 1,
            market_id: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 3, "the self-trade appears once per side");
    assert_eq!(
        (
            mine[0].order_id,
            mine[0].is_maker,
            mine[0].is_buyer,
            mine[0].commission
        ),
        (1, true, true, 1)
    );
    let taker_side = mine
        .iter()
        .find(|t| t.trade.id == 2 && !t.is_maker)
        .unwrap();
    assert_eq!(
        (
            taker_side.order_id,
            taker_side.is_buyer,
            taker_side.commission,
            taker_side.commission_asset_id
        ),
        (4, false, 65, 2)
    );
    let theirs = store
        .list_user_trades(&TradeQuery {
            user_id: 2,
            market_id: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert!(!theirs[0].is_maker && !theirs[0].is_buyer);
    let by_order = store
        .list_user_trades(&TradeQuery {
            user_id: 1,
            market_id: 1,
            order_id: Some(4),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_order.len(), 1);
    assert_eq!(by_order[0].order_id, 4);
    let from = store
        .list_user_trades(&TradeQuery {
            user_id: 1,
            market_id: 1,
            from_id: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(from.iter().all(|t| t.trade.id == 2));
    assert_eq!(store.list_market_trades(1, None, 1).await.unwrap()[0].id, 2);
    assert_eq!(
        store.list_market_trades(1, Some(1), 1).await.unwrap()[0].id,
        1
    );
}

async fn deposits_are_idempotent(store: Store) {
    let new = NewDeposit {
        idem_key: "dep-1",
        user_id: 5,
        asset_id: 2,
        amount: 1_000,
        source: "admin",
        reference: Some("ticket 9"),
        now: T0,
    };
    let (d, created) = store.record_deposit(&new).await.unwrap();
    assert!(created);
    assert_eq!(d.state, DepositState::Pending);
    let (again, created) = store
        .record_deposit(&NewDeposit { now: T0 + 5, ..new })
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, d);
    assert!(matches!(
        store
            .record_deposit(&NewDeposit { amount: 999, ..new })
            .await,
        Err(StoreError::Duplicate { .. })
    ));

    let credited = DepositRecord {
        state: DepositState::Credited,
        credited_at: Some(T0 + 7),
        seq: Some(42),
        ..d.clone()
    };
    for _ in 0..2 {
        let mut tx = store.begin().await.unwrap();
        tx.project_deposit_credited(&credited).await.unwrap();
        tx.commit().await.unwrap();
    }
    let got = store.deposit("dep-1").await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.credited_at, got.seq),
        (DepositState::Credited, Some(T0 + 7), Some(42))
    );
    assert!(
        !store.reject_deposit("dep-1").await.unwrap(),
        "credited is final"
    );

    // A deposit the wallet never recorded (demo seeding) is projected as credited.
    let seeded = DepositRecord {
        idem_key: "seed-1".into(),
        source: "seed".into(),
        reference: None,
        ..credited.clone()
    };
    let mut tx = store.begin().await.unwrap();
    tx.project_deposit_credited(&seeded).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.deposit("seed-1").await.unwrap().unwrap(), seeded);

    store
        .record_deposit(&NewDeposit {
            idem_key: "dep-2",
            now: T0 + 10,
            ..new
        })
        .await
        .unwrap();
    assert!(store.reject_deposit("dep-2").await.unwrap());
    let list = store.list_deposits(5, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|d| d.idem_key.as_str()).collect::<Vec<_>>(),
        vec!["dep-2", "seed-1", "dep-1"]
    );
    assert_eq!(list[0].state, DepositState::Rejected);
}

async fn withdrawal_state_machine(store: Store) {
    use WithdrawalState::*;
    let new = NewWithdrawal {
        idem_key: None,
        user_id: 9,
        asset_id: 1,
        amount: 500,
        fee: 5,
        destination: "bc1qxyz",
        now: T0,
    };
    let w = store.create_withdrawal(&new).await.unwrap();
    assert_eq!(
        (w.state, w.idem_key.clone()),
        (Requested, format!("withdrawal:{}", w.id))
    );
    let w = store
        .transition_withdrawal(w.id, Approved, Some(1), None, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (w.state, w.decided_by, w.decided_at),
        (Approved, Some(1), Some(T0 + 1))
    );
    let w = store
        .transition_withdrawal(w.id, Completed, None, Some("txid abc"), T0 + 2)
        .await
        .unwrap();
    assert_eq!(
        (w.state, w.finished_at, w.note.as_deref(), w.decided_by),
        (Completed, Some(T0 + 2), Some("txid abc"), Some(1))
    );
    for to in [Completed, Released, Approved, Rejected] {
        let err = store
            .transition_withdrawal(w.id, to, Some(1), None, T0 + 3)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidTransition {
                    from: "completed",
                    ..
                }
            ),
            "{to:?}: {err:?}"
        );
    }

    let r = store
        .create_withdrawal(&NewWithdrawal {
            idem_key: Some("client-key-1"),
            ..new
        })
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_withdrawal(&NewWithdrawal {
                idem_key: Some("client-key-1"),
                ..new
            })
            .await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(
        store
            .transition_withdrawal(r.id, Completed, None, None, T0)
            .await,
        Err(StoreError::InvalidTransition {
            from: "requested",
            ..
        })
    ));
    store
        .transition_withdrawal(r.id, Rejected, Some(2), Some("sanctioned"), T0 + 4)
        .await
        .unwrap();
    assert!(matches!(
        store
            .transition_withdrawal(r.id, Approved, Some(2), None, T0)
            .await,
        Err(StoreError::InvalidTransition { .. })
    ));
    let r = store
        .transition_withdrawal(r.id, Released, None, None, T0 + 5)
        .await
        .unwrap();
    assert_eq!((r.state, r.note.as_deref()), (Released, Some("sanctioned")));
    assert!(matches!(
        store
            .transition_withdrawal(777, Approved, None, None, T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let listed = store
        .list_withdrawals(&WithdrawalQuery {
            user_id: Some(9),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let released = store
        .list_withdrawals(&WithdrawalQuery {
            state: Some(Released),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        released.iter().map(|w| w.id).collect::<Vec<_>>(),
        vec![r.id]
    );
    // Only live and completed withdrawals count against the daily limit.
    assert_eq!(store.withdrawn_since(9, 1, T0).await.unwrap(), 500);
}

async fn concurrent_withdrawal_completion_has_one_winner(store: Store) {
    let w = store
        .create_withdrawal(&NewWithdrawal {
            idem_key: None,
            user_id: 1,
            asset_id: 1,
            amount: 1,
            fee: 0,
            destination: "d",
            now: T0,
        })
        .await
        .unwrap();
    store
        .transition_withdrawal(w.id, WithdrawalState::Approved, Some(1), None, T0)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .transition_withdrawal(w.id, WithdrawalState::Completed, None, None, T0 + i)
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::InvalidTransition { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1, "a withdrawal completes once");
}

async fn faucet_cap_holds_under_concurrency(store: Store) {
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.claim_faucet(1, 2, 20_000, 3).await.unwrap()
        }));
    }
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap() {
            granted += 1;
        }
    }
    assert_eq!(granted, 3);
    assert!(!store.claim_faucet(1, 2, 20_000, 3).await.unwrap());
    assert!(
        store.claim_faucet(1, 2, 20_001, 3).await.unwrap(),
        "a new day"
    );
    assert!(
        store.claim_faucet(1, 3, 20_000, 3).await.unwrap(),
        "another asset"
    );
    assert!(
        store.claim_faucet(2, 2, 20_000, 3).await.unwrap(),
        "another user"
    );
    assert!(!store.claim_faucet(3, 2, 20_000, 0).await.unwrap());
}

async fn mirrors_and_fee_tiers(store: Store) {
    let mut tx = store.begin().await.unwrap();
    tx.upsert_asset(1, "BTC", 8, T0).await.unwrap();
    tx.upsert_asset(2, "USDT", 6, T0).await.unwrap();
    tx.upsert_market(&MarketRecord {
        id: 1,
        symbol: "BTCUSDT".into(),
        base_asset_id: 1,
        quote_asset_id: 2,
        status: "TRADING".into(),
        config: r#"{"tick_size":10000}"#.into(),
        updated_at: T0,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store
        .set_withdraw_rules(1, 10_000, 500, 0, T0 + 1)
        .await
        .unwrap();
    assert!(matches!(
        store.set_withdraw_rules(9, 0, 0, 0, T0).await,
        Err(StoreError::NotFound { .. })
    ));
    // Re-projecting the asset keeps the wallet's rules.
    let mut tx = store.begin().await.unwrap();
    tx.upsert_asset(1, "BTC", 8, T0 + 2).await.unwrap();
    assert!(matches!(
        tx.upsert_asset(3, "BTC", 8, T0).await,
        Err(StoreError::Duplicate { .. })
    ));
    drop(tx);
    let assets = store.assets().await.unwrap();
    assert_eq!(assets.len(), 2);
    assert_eq!(
        (
            assets[0].code.as_str(),
            assets[0].decimals,
            assets[0].withdraw_min,
            assets[0].withdraw_fee
        ),
        ("BTC", 8, 10_000, 500)
    );

    let mut tx = store.begin().await.unwrap();
    tx.upsert_market(&MarketRecord {
        id: 1,
        symbol: "BTCUSDT".into(),
        base_asset_id: 1,
        quote_asset_id: 2,
        status: "HALTED".into(),
        config: "{}".into(),
        updated_at: T0 + 3,
    })
    .await
    .unwrap();
    let tier = FeeTier {
        user_id: 4,
        maker_fee_ppm: 0,
        taker_fee_ppm: 500,
        updated_at: T0,
        updated_by: Some(1),
    };
    tx.set_fee_tier(4, Some(&tier)).await.unwrap();
    tx.set_fee_tier(
        5,
        Some(&FeeTier {
            user_id: 5,
            updated_by: None,
            ..tier
        }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let markets = store.markets().await.unwrap();
    assert_eq!(
        (
            markets.len(),
            markets[0].status.as_str(),
            markets[0].updated_at
        ),
        (1, "HALTED", T0 + 3)
    );
    assert_eq!(store.fee_tier(4).await.unwrap(), Some(tier));
    let mut tx = store.begin().await.unwrap();
    tx.set_fee_tier(4, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.fee_tier(4).await.unwrap(), None);
    assert_eq!(
        store
            .fee_tiers()
            .await
            .unwrap()
            .iter()
            .map(|t| t.user_id)
            .collect::<HashSet<_>>(),
        HashSet::from([5])
    );
}

fn listen(key: &str, user_id: u64, holder: &str, now: i64) -> NewListenKey<'static> {
    NewListenKey {
        listen_key: Box::leak(key.to_string().into_boxed_str()),
        user_id,
        holder: Box::leak(holder.to_string().into_boxed_str()),
        now,
        expires_at: now + 60 * MINUTE,
        max_per_user: 2,
    }
}

async fn listen_keys_one_per_holder_expire_and_close(store: Store) {
    let first = match store
        .open_listen_key(&listen("k1", 7, "key:1", T0))
        .await
        .unwrap()
    {
        Opened::Created(k) => k,
        other => panic!("{other:?}"),
    };
    assert_eq!((first.user_id, first.expires_at), (7, T0 + 60 * MINUTE));
    // The same holder gets its live key back, extended.
    let again = store
        .open_listen_key(&listen("k2", 7, "key:1", T0 + MINUTE))
        .await
        .unwrap();
    assert!(
        matches!(&again, Opened::Reused(k) if k.listen_key == "k1" && k.expires_at == T0 + 61 * MINUTE),
        "{again:?}"
    );
    // A second holder of the same user, then the cap of two.
    assert!(matches!(
        store
            .open_listen_key(&listen("k3", 7, "session:9", T0))
            .await
            .unwrap(),
        Opened::Created(_)
    ));
    assert_eq!(
        store
            .open_listen_key(&listen("k4", 7, "key:2", T0))
            .await
            .unwrap(),
        Opened::LimitReached
    );
    // Keepalive: only the owner's live key.
    let later = T0 + 30 * MINUTE;
    assert!(!store
        .keep_listen_key_alive("k1", 8, later, later + 60 * MINUTE)
        .await
        .unwrap());
    assert!(!store
        .keep_listen_key_alive("nope", 7, later, later + 60 * MINUTE)
        .await
        .unwrap());
    assert!(store
        .keep_listen_key_alive("k1", 7, later, later + 60 * MINUTE)
        .await
        .unwrap());
    assert_eq!(
        store.listen_key("k1").await.unwrap().unwrap().expires_at,
        later + 60 * MINUTE
    );
    // k3 expires: keepalive refuses it, and its holder gets a new key.
    let expired = T0 + 60 * MINUTE;
    assert!(!store
        .keep_listen_key_alive("k3", 7, expired, expired + MINUTE)
        .await
        .unwrap());
    assert!(!store
        .listen_key("k3")
        .await
        .unwrap()
        .unwrap()
        .live_at(expired));
    assert!(matches!(
        store.open_listen_key(&listen("k5", 7, "session:9", expired)).await.unwrap(),
        Opened::Created(k) if k.listen_key == "k5"
    ));
    assert_eq!(store.listen_key("k3").await.unwrap(), None);
    // Close: someone else's is refused, the owner's goes.
    assert!(!store.close_listen_key("k1", 8, later).await.unwrap());
    assert!(store.close_listen_key("k1", 7, later).await.unwrap());
    assert_eq!(store.listen_key("k1").await.unwrap(), None);
    assert!(!store.close_listen_key("k1", 7, later).await.unwrap());
}
