//! `userDataStream.*` and `session.subscriptions`.

use super::{Answer, Authed, Failure, Session};
use flowex_http::clock::now_ms;
use flowex_http::ApiError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn terminated(subscription: u64) -> String {
    format!(
        r#"{{"subscriptionId":{subscription},"event":{{"e":"eventStreamTerminated","E":{}}}}}"#,
        now_ms()
    )
}

impl Session {
    fn add_subscription(&mut self, who: Authed) -> Answer {
        if self.subscriptions.len() >= super::super::MAX_SUBSCRIPTIONS {
            return Err(Failure {
                status: 400,
                error: json!({"code": -1003, "msg": format!(
                    "Too many subscriptions on this connection: at most {}.",
                    super::super::MAX_SUBSCRIPTIONS
                )}),
            });
        }
        self.hold_user(who.identity.user_id)?;
        let id = self.next_subscription;
        self.next_subscription += 1;
        self.api.hub.subscribe(
            who.identity.user_id,
            self.conn,
            id,
            self.tx.clone(),
            self.kick.clone(),
        );
        self.subscriptions.insert(id, who);
        Ok(json!({ "subscriptionId": id }))
    }

    /// `userDataStream.subscribe`: the logged-on user's events.
    pub(super) fn subscribe_logged_on(&mut self) -> Answer {
        let who = self.logon.clone().ok_or_else(ApiError::unauthorized)?;
        self.add_subscription(who)
    }

    /// `userDataStream.subscribe.signature`: a signed request, no logon.
    pub(super) async fn subscribe_signed(&mut self, texts: &BTreeMap<String, String>) -> Answer {
        let who = self.verify_signed(texts).await?;
        self.add_subscription(who)
    }

    /// `userDataStream.unsubscribe`: one subscription (`subscriptionId`) or
    /// all; each ends with `eventStreamTerminated` after the reply.
    pub(super) fn unsubscribe(
        &mut self,
        texts: &BTreeMap<String, String>,
        after: &mut Vec<String>,
    ) -> Answer {
        match texts.get("subscriptionId") {
            None => after.extend(self.terminate_all()),
            Some(s) => {
                let id: u64 = s
                    .parse()
                    .ok()
                    .filter(|id| self.subscriptions.contains_key(id))
                    .ok_or_else(|| ApiError::invalid_parameter("subscriptionId"))?;
                self.subscriptions.remove(&id);
                self.api.hub.unsubscribe(self.conn, id);
                after.push(terminated(id));
            }
        }
        Ok(json!({}))
    }

    /// Ends every subscription; their `eventStreamTerminated` notes.
    pub(super) fn terminate_all(&mut self) -> Vec<String> {
        let ids: Vec<u64> = std::mem::take(&mut self.subscriptions)
            .into_keys()
            .collect();
        for id in &ids {
            self.api.hub.unsubscribe(self.conn, *id);
        }
        ids.into_iter().map(terminated).collect()
    }

    /// `session.subscriptions`.
    pub(super) fn list(&self) -> Value {
        Value::Array(
            self.subscriptions
                .keys()
                .map(|id| json!({ "subscriptionId": id }))
                .collect(),
        )
    }
}
