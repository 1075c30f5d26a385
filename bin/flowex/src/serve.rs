//! `flowex serve NAME`: one service of the distributed mode per process.
//! Each service crate's `serve` does the work (its process shell is
//! [`flowex_service::process`]); this only picks one and applies `--port`.

use anyhow::Result;
use flowex_config::Config;
use std::sync::Arc;

/// The five services.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Gateway,
    Auth,
    Trading,
    MarketData,
    Wallet,
}

impl Service {
    /// The name on the command line, in log lines and in Kubernetes'
    /// `app.kubernetes.io/component` label.
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Auth => "auth",
            Service::Trading => "trading",
            Service::MarketData => "market-data",
            Service::Wallet => "wallet",
        }
    }
}

/// Options of `flowex serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Which service this process runs.
    #[arg(value_enum)]
    pub service: Service,
}

/// Runs one service until SIGINT or SIGTERM. `port` (the global `--port`)
/// replaces `services.<name>.port`.
pub async fn serve(mut cfg: Config, args: ServeArgs, port: Option<u16>) -> Result<()> {
    flowex_service::process::require_distributed(&cfg)?;
    if let Some(p) = port {
        let s = &mut cfg.services;
        match args.service {
            Service::Gateway => s.gateway.port = p,
            Service::Auth => s.auth.port = p,
            Service::Trading => s.trading.port = p,
            Service::MarketData => s.market_data.port = p,
            Service::Wallet => s.wallet.port = p,
        }
    }
    match args.service {
        Service::Gateway => {
            // The document generated from the code, not a file from the working directory.
            let options = flowex_gateway::ServeOptions {
                openapi: Some(crate::openapi::json()),
                ..Default::default()
            };
            flowex_gateway::serve_with(cfg, options, flowex_http::shutdown_signal()).await
        }
        Service::Auth => flowex_auth_service::serve(cfg).await,
        Service::Trading => {
            // The WebSocket API authenticates inside the protocol, with the gateway's guard.
            let credentials = Arc::new(flowex_gateway::remote_credentials(&cfg)?);
            // ... and charges the gateway's own rate-limit counters.
            let limiter = flowex_gateway::shared_rate_limiter(&cfg)?;
            flowex_trading::serve(cfg, credentials, limiter).await
        }
        Service::MarketData => flowex_market_data::serve(cfg).await,
        Service::Wallet => flowex_wallet::serve(cfg).await,
    }
}
