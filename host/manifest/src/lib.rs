//! # tandem-manifest: the agent manifest and the policy it resolves into
//!
//! The agent manifest is a TOML file beside the component (`linter.wasm` + `linter.toml`) that sets
//! the agent's limits and grants its capabilities. Everything not granted is denied; a missing
//! manifest means the defaults below and no capabilities at all.
//!
//! Unknown keys are rejected by name, and every value is range-checked with an error that names the
//! key. Relative host paths are resolved against the manifest's directory.
//!
//! ```toml
//! [agent]
//! id = "linter"              # optional: the component's describe() must return this id
//!
//! [limits]
//! timeout = "5s"             # wall clock per call: "250ms", "5s", "2m"
//! fuel = 500_000_000         # fuel per call
//! memory = "64MiB"           # linear memory per instance
//! table-elements = 10_000
//! max-instances = 32         # instances alive at once: the agent's concurrency bound
//! max-queue = 256            # calls that may wait for a busy instance; more are `overloaded`
//! max-input = "4MiB"         # the largest input a call may bring
//! max-output = "16MiB"
//! log-records = 1_000        # per call; the rest are dropped
//! max-open-files = 64        # files a guest holds open at once (an instance that ends a call
//!                            #   with files open is not reused)
//! isolation = "pooled"       # "pooled": warm instances reused; "fresh": a new instance per call
//!
//! [capabilities]
//! env = ["LANG"]             # host environment variables passed through by name
//! stdio = "discard"          # or "log": the guest's stdout/stderr go to the host's log
//! delegate = ["security"]    # agents it may call
//! dirs = [
//!     { host = "samples", guest = "samples", mode = "read-only" },
//!     { host = "/var/tmp/out", guest = "/out", mode = "read-write" },
//! ]
//!
//! [resilience]
//! consecutive-failures = 5   # the breaker opens after this many failures in a row,
//! failure-rate = 0.5         # or when this share of the last `window` calls failed,
//! window = 20                #   (at most 64)
//! minimum-calls = 10         #   once at least this many were made;
//! open-for = "500ms"         # then it fails fast this long before letting probes through
//! half-open-probes = 1       # probe calls that must succeed to close it again
//! max-attempts = 3           # attempts per call (timeouts, traps, `retryable` errors)
//! backoff = "10ms"           # before the first retry, doubling, with full jitter,
//! max-backoff = "1s"         #   up to this
//!
//! [state]                    # the agent's durable key-value store (the `state` import)
//! max-keys = 1024            # keys it may keep
//! max-bytes = "1MiB"         # keys plus values, in bytes
//!
//! [[triggers]]               # calls the host makes on its own (see `triggers`)
//! every = "30s"              # or cron = "*/5 * * * *", or on-event = "agent-swapped"
//! operation = "sample"
//! input = { window = 60 }
//! ```
//!
//! This crate is the bottom layer of the host: it knows no wasm. [`Manifest`] is the schema as
//! written; [`Manifest::policy`] checks every value and resolves it into a [`Policy`], the plain
//! description of what an agent may do that the engine enforces.
//!
//! # Layout
//! - [`schema`]: the manifest as written (serde types), read and parsed.
//! - `resolve`: checking each section and resolving it into the policy.
//! - [`values`]: durations, sizes and ranges as users write them.
//! - [`policy`]: [`Policy`], [`Limits`], [`Grants`] and the engine's own bounds ([`EngineLimits`]).
//! - [`resilience`]: breaker and retry settings.
//! - [`quota`]: how much durable state an agent may keep.
//! - [`names`]: what an agent id or operation name may be.
//! - [`triggers`]: `[[triggers]]`, the calls the host makes on a schedule or on an event.
//! - [`egress`]: `[egress]`, outbound HTTP allow rules and the judgement of a request against them.
//! - [`secrets`]: `[secrets]`, secrets bound to egress rules and substituted for their
//!   placeholders.
//! - [`error`]: [`ManifestError`], naming the file and the key.

#![deny(missing_docs)]

pub mod egress;
pub mod error;
pub mod names;
pub mod policy;
pub mod quota;
pub mod resilience;
mod resolve;
pub mod schema;
pub mod secrets;
pub mod triggers;
pub mod values;

pub use error::ManifestError;
pub use names::{check_name, is_valid_name};
pub use policy::{DirGrant, EngineLimits, Grants, Isolation, Limits, Policy, Stdio};
pub use quota::Quota;
pub use resilience::{BreakerSettings, Resilience, RetryPolicy};
pub use resolve::{policy_for_component, policy_from};
pub use schema::Manifest;
pub use triggers::{Trigger, When};
pub use values::{check_range, parse_duration};
