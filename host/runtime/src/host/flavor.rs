//! [`Flavor`]: one of a host's two engines (metered by fuel or not, see [`crate::engine`]) with
//! what is tied to it: its linkers, built for its engine, and its code cache, keyed by its settings.

use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::cache::CodeCache;
use crate::engine::{self, EngineLimits};
use crate::sandbox::{Policy, StoreData};

/// An engine, its linkers and its code cache.
pub(crate) struct Flavor {
    pub(crate) engine: Engine,
    /// Every host import but `wasi:http`.
    pub(crate) linker: Linker<StoreData>,
    /// The same and `wasi:http`, for agents whose manifest grants `[egress]`.
    pub(crate) egress_linker: Linker<StoreData>,
    pub(crate) cache: CodeCache,
}

impl Flavor {
    /// An engine sized by `limits`, counting fuel when `metered`, caching compiled code in
    /// `cache_dir`.
    pub(crate) fn new(
        limits: &EngineLimits,
        metered: bool,
        cache_dir: Option<PathBuf>,
    ) -> wasmtime::Result<Flavor> {
        let engine = engine::build(limits, metered)?;
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
