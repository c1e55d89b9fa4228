//! `tandem:agent/host-info`: a read-only window onto the host for the agents whose manifest grants
//! `host-info = true`. What the host holds (agents, figures, load) is the layer above's, so this
//! capability asks a [`HostInfo`], the trait the runtime implements; it checks the grant first, and
//! hands a refusal to the same trait to be logged, published and audited. The capability owns its
//! context ([`HostInfoCtx`]) and implements the generated `Host` trait on [`HostInfoView`].

use std::sync::Weak;

use tandem_manifest::Policy;

use wasmtime::component::{HasData, Linker};

use crate::bindings::host_info::{
    self, AgentSummary, Host, HostInfoError, HostLoad, Route, VersionFigures,
};
use crate::sandbox::{CallState, StoreData};

/// What a granted guest may read of the host: defined here, implemented by the runtime.
pub trait HostInfo: Send + Sync {
    /// Every loaded agent, by id.
    fn agents(&self) -> Vec<AgentSummary>;
    /// The figures of every version of `agent` (none: of every agent), by agent then version.
    fn figures(&self, agent: Option<&str>) -> Vec<VersionFigures>;
    /// The host's load now.
    fn load(&self) -> HostLoad;
    /// Every loaded agent's route: its current version and canary.
    fn routes(&self) -> Vec<Route>;
    /// `call`'s agent asked for `what` without the grant.
    fn refused(&self, call: &CallState, what: &str);
}

/// One instance's host-info capability.
pub struct HostInfoCtx {
    /// Weak, as the source's owner may own this instance.
    source: Weak<dyn HostInfo>,
}

impl HostInfoCtx {
    /// Answers from `source` (when the manifest grants `host-info`).
    pub fn new(source: Weak<dyn HostInfo>) -> HostInfoCtx {
        HostInfoCtx { source }
    }
}

/// What the interface's functions see: the context, the agent's policy (whose grant decides) and
/// the call that asks.
pub struct HostInfoView<'a> {
    ctx: &'a HostInfoCtx,
    policy: &'a Policy,
    call: &'a CallState,
}

struct HasHostInfo;

impl HasData for HasHostInfo {
    type Data<'a> = HostInfoView<'a>;
}

impl StoreData {
    fn host_info_view(&mut self) -> HostInfoView<'_> {
        HostInfoView {
            ctx: &self.host_info,
            policy: &self.policy,
            call: &self.call,
        }
    }
}

/// Links `tandem:agent/host-info`.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    host_info::add_to_linker::<StoreData, HasHostInfo>(linker, StoreData::host_info_view)
}

impl HostInfoView<'_> {
    /// The source, when the grant is there and the host still is; the refusal otherwise.
    fn source(&self, what: &str) -> Result<std::sync::Arc<dyn HostInfo>, HostInfoError> {
        let source = self.ctx.source.upgrade();
        if !self.policy.grants.host_info {
            if let Some(source) = &source {
                source.refused(self.call, what);
            }
            return Err(HostInfoError::Denied(format!(
                "agent `{}` may not read the host's {what}: its manifest does not grant `host-info = true` under [capabilities]",
                self.call.agent
            )));
        }
        source.ok_or_else(|| HostInfoError::Denied("the host is shutting down".into()))
    }
}

impl Host for HostInfoView<'_> {
    async fn agents(&mut self) -> Result<Vec<AgentSummary>, HostInfoError> {
        Ok(self.source("agents")?.agents())
    }

    async fn figures(
        &mut self,
        agent: Option<String>,
    ) -> Result<Vec<VersionFigures>, HostInfoError> {
        Ok(self.source("figures")?.figures(agent.as_deref()))
    }

    async fn load(&mut self) -> Result<HostLoad, HostInfoError> {
        Ok(self.source("load")?.load())
    }

    async fn routes(&mut self) -> Result<Vec<Route>, HostInfoError> {
        Ok(self.source("routes")?.routes())
    }
}
