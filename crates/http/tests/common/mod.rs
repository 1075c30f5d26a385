//! Test harness: a real server on 127.0.0.1:0 and a real HTTP client.

#![allow(dead_code)]

use axum::Router;
use flowex_http::{HttpConfig, RateLimitState};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub struct Server {
    pub base: String,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start(router: Router, config: &HttpConfig, limits: Option<RateLimitState>) -> Server {
    start_raw(flowex_http::stack(router, config, limits).unwrap(), 1000).await
}

pub async fn start_raw(app: Router, max_connections: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(flowex_http::serve(listener, app, max_connections, async {
        let _ = rx.await;
    }));
    Server {
        base: format!("http://{addr}"),
        addr,
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap(),
        _stop: tx,
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_form(&self, path: &str, body: &str) -> Reply {
        self.send(
            self.client
                .post(self.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_string()),
        )
        .await
    }
}
