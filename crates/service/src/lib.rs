//! What every FlowEx service shares beyond its routes.
//!
//! Each service crate (`services/*`) has the same shape: `router(state) ->
//! Router` (its routes with full paths, no fallback, no stack: what
//! `flowex up` merges behind the embedded gateway) and `serve(config)`
//! (the service alone in distributed mode, built on [`process`]).
//! `bin/flowex` only composes them: `flowex up` (every router in one
//! process) or `flowex serve NAME` (one `serve`).
//!
//! Trading owns the sequencer; every other caller of the engine (the
//! wallet, `flowex admin reconcile`, `flowex demo seed`) reaches it through
//! one [`EngineClient`]: the sequencer handle in one process, trading's
//! internal API in distributed mode.

mod client;
pub mod process;
pub mod query_metrics;
pub mod sampler;

pub use client::{rejection, EngineClient, Holding, InternalClient, RemoteTrading};
