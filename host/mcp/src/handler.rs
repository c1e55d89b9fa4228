//! The MCP server's side of a session: `initialize`, `tools/list` and `tools/call` answered from the
//! host, each call made like any other (`Host::invoke_from`: limits, grants, breakers, retries,
//! metrics, events and the audit log apply).
//!
//! A call that fails is a tool result with `isError` and a `kind: message` text (the host's
//! classification, which a model can act on); only a request that names no tool is a protocol
//! error. A call the client cancels (`notifications/cancelled`) is dropped, which stops its guest.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tandem::{CallError, Host, Origin};

use crate::peers::Peers;
use crate::tools;

/// Answers MCP requests from a [`Host`]'s agents; one per session (cheap: it shares the host).
#[derive(Clone)]
pub struct AgentTools {
    host: Arc<Host>,
    peers: Arc<Peers>,
}

impl AgentTools {
    /// Tools for `host`'s agents; sessions that finish initializing join `peers`, which hears of
    /// changes to the agent set.
    pub fn new(host: Arc<Host>, peers: Arc<Peers>) -> AgentTools {
        AgentTools { host, peers }
    }

    async fn call(
        &self,
        request: CallToolRequestParams,
        cancelled: &tokio_util::sync::CancellationToken,
    ) -> Result<CallToolResult, ErrorData> {
        let Some((agent_id, op_name)) = tools::parse_tool_name(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool `{}`: tools are named `<agent>_<operation>` (see tools/list)",
                    request.name
                ),
                None,
            ));
        };
        let agent = self.host.agent(agent_id).map_err(|e| {
            ErrorData::invalid_params(format!("no tool `{}`: {e}", request.name), None)
        })?;
        let Some(op) = agent.info.operation(op_name) else {
            return Err(ErrorData::invalid_params(
                format!(
                    "no tool `{}`: agent `{agent_id}` has no operation `{op_name}`",
                    request.name
                ),
                None,
            ));
        };
        let input = tools::input(op, request.arguments);
        let call = self
            .host
            .invoke_from(agent_id, op_name, input, Origin::default());
        let response = tokio::select! {
            response = call => response,
            () = cancelled.cancelled() => {
                return Ok(failed(&format!("{}: the client cancelled the call", tandem::ErrorKind::Unavailable)));
            }
        };
        Ok(match response {
            Ok(response) => succeeded(&response.output),
            Err(error) => failed(&describe(&error)),
        })
    }
}

/// A classified failure as a model reads it: `kind: message`.
fn describe(error: &CallError) -> String {
    format!("{}: {error}", error.kind())
}

fn failed(text: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// The output as text, and as structured content when it is an object (MCP's structured content
/// is an object).
fn succeeded(output: &str) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(output)]);
    if let Ok(value @ serde_json::Value::Object(_)) = serde_json::from_str(output) {
        result.structured_content = Some(value);
    }
    result
}

impl ServerHandler for AgentTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("tandem", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Each tool is one operation of an agent running sandboxed in a Tandem host, named \
             `<agent>_<operation>`. A failed call says its class first (`invalid-input`, \
             `denied`, `timeout`, ...): only `retryable` and `unavailable` are worth retrying.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::tools(
            &self.host.agents(),
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request, &context.ct).await.map(Into::into)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.peers.join(context.peer);
    }
}
