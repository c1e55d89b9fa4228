//! [`Flavor`]: one of a host's engines (metered by fuel or not, compiled by Cranelift or Winch: see
//! [`crate::engine`]) with what is tied to it: its linkers, built for its engine, and its code
//! cache, keyed by its settings; [`Flavors`]: the metered and the unmetered one of a tier.

use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::cache::CodeCache;
use crate::engine::{self, EngineLimits, Tier};
use crate::sandbox::{Policy, StoreData};

/// An engine, its linkers and its code cache.
pub(crate) struct Flavor {
    pub(crate) engine: Engine,
    /// Every host import but `wasi:http`.
    pub(crate) linker: Linker<StoreData>,
    /// The same and `wasi:http`, for agents whose manifest grants `[egress]`.
    pub(crate) egress_linker: Linker<StoreData>,
    pub(crate) cache: CodeCache,
    pub(crate) tier: Tier,
}

impl Flavor {
    /// An engine sized by `limits`, counting fuel when `metered`, compiling with `tier`'s compiler,
    /// caching compiled code in `cache_dir`.
    pub(crate) fn new(
        limits: &EngineLimits,
        metered: bool,
        tier: Tier,
        cache_dir: Option<PathBuf>,
    ) -> wasmtime::Result<Flavor> {
        let engine = engine::build(limits, metered, tier)?;
        let mut linker = Linker::new(&engine);
        tandem_engine::capabilities::wasi::add_to_linker(&mut linker)?;
        tandem_engine::capabilities::add_to_linker(&mut linker)?;
        let mut egress_linker = linker.clone();
        tandem_engine::capabilities::egress::add_to_linker(&mut egress_linker)?;
        Ok(Flavor {
            cache: CodeCache::new(&engine, cache_dir),
            engine,
            linker,
            egress_linker,
            tier,
        })
    }

    /// The linker for an agent granted `policy`.
    pub(crate) fn linker(&self, policy: &Policy) -> &Linker<StoreData> {
        match policy.grants.egress {
            Some(_) => &self.egress_linker,
            None => &self.linker,
        }
    }
}

/// The metered and the unmetered engine of one tier.
pub(crate) struct Flavors {
    /// For agents whose manifest sets a fuel limit.
    pub(crate) metered: Flavor,
    /// For the others.
    pub(crate) unmetered: Flavor,
}

impl Flavors {
    /// Both engines of `tier` (see [`Flavor::new`]).
    pub(crate) fn new(
        limits: &EngineLimits,
        tier: Tier,
        cache_dir: Option<PathBuf>,
    ) -> wasmtime::Result<Flavors> {
        Ok(Flavors {
            metered: Flavor::new(limits, true, tier, cache_dir.clone())?,
            unmetered: Flavor::new(limits, false, tier, cache_dir)?,
        })
    }

    /// The engine an agent granted `policy` runs on: metered when it has a fuel limit.
    pub(crate) fn of(&self, policy: &Policy) -> &Flavor {
        match policy.limits.fuel {
            Some(_) => &self.metered,
            None => &self.unmetered,
        }
    }

    /// Both engines (for the epoch ticker).
    pub(crate) fn engines(&self) -> [&Engine; 2] {
        [&self.metered.engine, &self.unmetered.engine]
    }
}
