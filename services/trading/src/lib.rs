//! The trading service: owns the sequencer (and so the engine) and serves
//! the order side of the Binance-compatible API.
