//! `tandem:agent/control`: operating other agents' versions (list, roll back, activate a held
//! version; start, reweight, promote and abort a canary) for the agents whose manifest names the target under `control`. The versions are the
//! layer above's, so this capability hands each action to a [`Control`], the trait the runtime
//! implements, after checking the grant; a refusal goes to the same trait to be logged, published
//! and audited. The capability owns its context ([`ControlCtx`]) and implements the generated
//! `Host` trait on [`ControlView`].

use std::sync::{Arc, Weak};

use futures::future::BoxFuture;

use tandem_manifest::Policy;

use wasmtime::component::{HasData, Linker};

use crate::bindings::control::{self, CanaryInfo, ControlError, Host, VersionInfo};
use crate::sandbox::{CallState, StoreData};

/// What a granted guest may do to an agent's versions: defined here, implemented by the runtime.
/// `actor` is the call acting, for the event and the audit line.
pub trait Control: Send + Sync {
    /// The versions held of `agent`, oldest first.
    fn versions(&self, agent: &str) -> Result<Vec<VersionInfo>, ControlError>;
    /// The previous version of `agent` made current.
    fn rollback(&self, actor: &CallState, agent: &str) -> Result<VersionInfo, ControlError>;
    /// The held version of `agent` with `content_hash` made current (loaded first when the host
    /// keeps it only in its agent store).
    fn activate<'a>(
        self: Arc<Self>,
        actor: &'a CallState,
        agent: &'a str,
        content_hash: &'a str,
    ) -> BoxFuture<'a, Result<VersionInfo, ControlError>>;
    /// The canary of `agent`, if any.
    fn canary(&self, agent: &str) -> Result<Option<CanaryInfo>, ControlError>;
    /// The held version of `agent` with `content_hash` served as its canary at `weight` percent.
    fn start_canary<'a>(
        self: Arc<Self>,
        actor: &'a CallState,
        agent: &'a str,
        content_hash: &'a str,
        weight: u8,
    ) -> BoxFuture<'a, Result<CanaryInfo, ControlError>>;
    /// The weight of `agent`'s canary set.
    fn set_weight(
        &self,
        actor: &CallState,
        agent: &str,
        weight: u8,
    ) -> Result<CanaryInfo, ControlError>;
    /// `agent`'s canary made its current version.
    fn promote(&self, actor: &CallState, agent: &str) -> Result<VersionInfo, ControlError>;
    /// `agent`'s canary ended.
    fn abort(&self, actor: &CallState, agent: &str) -> Result<CanaryInfo, ControlError>;
    /// `call`'s agent asked to `what` without the grant.
    fn refused(&self, call: &CallState, what: &str);
}

/// One instance's control capability.
pub struct ControlCtx {
    /// Weak, as the controller's owner may own this instance.
    controller: Weak<dyn Control>,
}

impl ControlCtx {
    /// Actions handed to `controller` (the manifest's `control` grant decides which).
    pub fn new(controller: Weak<dyn Control>) -> ControlCtx {
        ControlCtx { controller }
    }
}

/// What the interface's functions see: the context, the agent's policy (whose `control` grant
/// names the agents it may act on) and the call that acts.
pub struct ControlView<'a> {
    ctx: &'a ControlCtx,
    policy: &'a Policy,
    call: &'a CallState,
}

struct HasControl;

impl HasData for HasControl {
    type Data<'a> = ControlView<'a>;
}

impl StoreData {
    fn control_view(&mut self) -> ControlView<'_> {
        ControlView {
            ctx: &self.control,
            policy: &self.policy,
            call: &self.call,
        }
    }
}

/// Links `tandem:agent/control`.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    control::add_to_linker::<StoreData, HasControl>(linker, StoreData::control_view)
}

impl ControlView<'_> {
    /// The controller, when the manifest names `agent` and the host still is; the refusal otherwise.
    fn controller(&self, agent: &str, action: &str) -> Result<Arc<dyn Control>, ControlError> {
        let controller = self.ctx.controller.upgrade();
        if !self.policy.grants.control.iter().any(|g| g == agent) {
            let what = format!("{action} `{agent}`");
            if let Some(controller) = &controller {
                controller.refused(self.call, &what);
            }
            return Err(ControlError::Denied(format!(
                "agent `{}` may not {what}: its manifest does not name `{agent}` under `control` in [capabilities]",
                self.call.agent
            )));
        }
        controller.ok_or_else(|| ControlError::Invalid("the host is shutting down".into()))
    }
}

impl Host for ControlView<'_> {
    async fn versions(&mut self, agent: String) -> Result<Vec<VersionInfo>, ControlError> {
        self.controller(&agent, "list the versions of")?
            .versions(&agent)
    }

    async fn rollback(&mut self, agent: String) -> Result<VersionInfo, ControlError> {
        self.controller(&agent, "roll back")?
            .rollback(self.call, &agent)
    }

    async fn activate(
        &mut self,
        agent: String,
        content_hash: String,
    ) -> Result<VersionInfo, ControlError> {
        self.controller(&agent, "activate a version of")?
            .activate(self.call, &agent, &content_hash)
            .await
    }

    async fn canary(&mut self, agent: String) -> Result<Option<CanaryInfo>, ControlError> {
        self.controller(&agent, "read the canary of")?
            .canary(&agent)
    }

    async fn start_canary(
        &mut self,
        agent: String,
        content_hash: String,
        weight: u8,
    ) -> Result<CanaryInfo, ControlError> {
        self.controller(&agent, "start a canary of")?
            .start_canary(self.call, &agent, &content_hash, weight)
            .await
    }

    async fn set_weight(&mut self, agent: String, weight: u8) -> Result<CanaryInfo, ControlError> {
        self.controller(&agent, "set the canary weight of")?
            .set_weight(self.call, &agent, weight)
    }

    async fn promote(&mut self, agent: String) -> Result<VersionInfo, ControlError> {
        self.controller(&agent, "promote the canary of")?
            .promote(self.call, &agent)
    }

    async fn abort(&mut self, agent: String) -> Result<CanaryInfo, ControlError> {
        self.controller(&agent, "abort the canary of")?
            .abort(self.call, &agent)
    }
}
