//! Where log lines go and how they look.
//!
//! - `flowex serve NAME` (production): the configured `log.level`
//!   (`FLOWEX_LOG_LEVEL`), and with `log.json` (`FLOWEX_LOG_JSON`; the
//!   container image and the Kubernetes configuration set it) one JSON
//!   object per line: `timestamp`, `level`, `target`, `message` and the
//!   event's fields at the top level, and `span` with the request's fields
//!   (`request_id`, `method`, `path`) inside a request. deploy/logging's
//!   Fluentd parses exactly these; the service is the pod's
//!   `app.kubernetes.io/component` label.
//! - Every other command (`flowex up`, the CLI): human-readable lines,
//!   warnings and errors only unless `RUST_LOG` says otherwise, so a
//!   terminal shows the banner, not a stream of requests.
//!
//! `RUST_LOG` always wins over the configured level. Lines go to standard
//! error; standard output stays for what a command prints.

use crate::ops::Overrides;
use tracing_subscriber::EnvFilter;

/// Installs the process's log subscriber. `serving`: a `flowex serve`
/// process, which takes level and format from the configuration.
pub fn init(overrides: &Overrides, serving: bool) {
    // A configuration that does not load is reported by the command itself.
    let log = overrides.load().ok().map(|c| c.log);
    let (level, json) = match (&log, serving) {
        (Some(l), true) => (l.level.clone(), l.json),
        (Some(l), false) => ("warn".to_string(), l.json),
        (None, _) => ("warn".to_string(), false),
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}
