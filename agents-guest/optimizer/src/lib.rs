//! `optimizer`: tunes the host from its own figures. [`limits`] recommends manifest limits from the
//! figures [`figures`] reads (`tandem stats --json`, `GET /v1/agents`, `/metrics`), [`graph`]
//! analyses a task plan (critical path, slack, parallelism, the cost of a concurrency bound),
//! [`predict`] fits a resource against load, and [`capacity`] sizes the host for a target load.
//!
//! Operations: `recommend-limits`, `analyse-graph`, `predict`, `capacity`.

pub mod capacity;
pub mod figures;
pub mod graph;
pub mod limits;
pub mod predict;
pub mod units;

use std::collections::{BTreeMap, HashMap};

use guest_support::{Tree, TreeLimits};
use serde::Deserialize;
use serde_json::json;
use tandem_sdk::{Agent, AgentError, AgentInfo, Json, Operation, Task, to_json};

use figures::Figures;

/// The input of `recommend-limits`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LimitsInput {
    /// What `tandem stats --json` or `GET /v1/agents[/{id}]` prints.
    #[serde(default)]
    stats: Option<serde_json::Value>,
    /// The text of `GET /metrics`.
    #[serde(default)]
    metrics: Option<String>,
    /// Files in granted directories holding either (`.json` is read as `stats`).
    #[serde(default)]
    paths: Vec<String>,
    /// Read the figures from the host this agent runs in (`tandem:agent/host-info`).
    #[serde(default)]
    live: bool,
    /// Only these agents (default: every one in the figures).
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    margins: Option<limits::Margins>,
}

fn read_figures(input: &LimitsInput) -> Result<Vec<Figures>, AgentError> {
    let mut all = Vec::new();
    if input.live {
        all.extend(figures::from_host()?);
    }
    if let Some(stats) = &input.stats {
        all.extend(figures::from_json(stats)?);
    }
    if let Some(text) = &input.metrics {
        all.extend(figures::from_metrics(text)?);
    }
    let tree = Tree::read(&input.paths, TreeLimits::default())?;
    for file in &tree.files {
        if file.path.ends_with(".json") {
            let value: serde_json::Value = serde_json::from_str(&file.text)
                .map_err(|e| AgentError::invalid(format!("{}: not JSON: {e}", file.path)))?;
            all.extend(figures::from_json(&value)?);
        } else {
            all.extend(figures::from_metrics(&file.text)?);
        }
    }
    if all.is_empty() && input.stats.is_none() && input.metrics.is_none() && input.paths.is_empty()
    {
        return Err(AgentError::invalid(
            "give the figures: `stats` (the JSON of `tandem stats --json`), `metrics` (the text of `GET /metrics`), or `paths` to files of either",
        ));
    }
    if !input.agents.is_empty() {
        for wanted in &input.agents {
            if !all.iter().any(|f| &f.agent == wanted) {
                return Err(AgentError::invalid(format!(
                    "no agent `{wanted}` in the figures"
                )));
            }
        }
        all.retain(|f| input.agents.contains(&f.agent));
    }
    Ok(all)
}

fn recommend_limits(input: LimitsInput) -> Result<Json, AgentError> {
    let all = read_figures(&input)?;
    let margins = input.margins.clone().unwrap_or_default();
    let recommendations: Vec<_> = all.iter().map(|f| limits::recommend(f, &margins)).collect();
    to_json(&json!({ "agents": recommendations }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct GraphInput {
    /// The plan: JSON, or TOML or JSON text.
    plan: serde_json::Value,
    /// Milliseconds (or `"2s"`) per node id.
    #[serde(default)]
    durations: BTreeMap<String, serde_json::Value>,
    /// A previous `tandem graph run --json`, for the nodes `durations` leaves out.
    #[serde(default)]
    run: Option<serde_json::Value>,
    /// Concurrency bounds to cost (default 1, 2, 4, 8, 16, 64 and the plan's own).
    #[serde(default)]
    concurrency: Vec<usize>,
}

fn analyse_graph(input: GraphInput) -> Result<Json, AgentError> {
    let plan = graph::read_plan(&input.plan)?;
    let run = match &input.run {
        Some(run) => graph::durations_of_run(run)?,
        None => HashMap::new(),
    };
    to_json(&graph::analyse(
        &plan,
        &input.durations,
        &run,
        &input.concurrency,
    )?)
}

struct Optimizer;

impl Agent for Optimizer {
    fn describe() -> AgentInfo {
        AgentInfo::new("optimizer", "Tunes the host from its own figures: limits, task graphs, predictions, capacity")
            .operation(
                Operation::new("recommend-limits", "Manifest limits from agents' figures (live from the host, tandem stats --json, GET /v1/agents, /metrics), as a TOML patch and prose")
                    .example(json!({"live": true, "agents": ["echo"]})),
            )
            .operation(
                Operation::new("analyse-graph", "Critical path, slack, parallelism over time, the bottleneck and the cost of a concurrency bound of a task plan")
                    .example(json!({"plan": {"nodes": [{"id": "a"}, {"id": "b", "depends-on": ["a"]}]}, "durations": {"a": "2s", "b": 500}})),
            )
            .operation(
                Operation::new("predict", "A resource against load: linear or logarithmic least squares chosen by residuals, R², the value with a 95 % interval")
                    .example(json!({"samples": [[10, 120], [20, 210], [40, 400]], "at": 80})),
            )
            .operation(
                Operation::new("capacity", "Instances, workers and memory a target load needs, from per-call costs or an agent's figures")
                    .example(json!({"target-rps": 500, "mean-ms": 4, "p99-ms": 10, "memory-bytes": 2097152})),
            )
            .capability("files:read")
            .capability("host-info")
    }

    fn handle(task: Task) -> Result<Json, AgentError> {
        match task.operation.as_str() {
            "recommend-limits" => recommend_limits(task.input()?),
            "analyse-graph" => analyse_graph(task.input()?),
            "predict" => to_json(&predict::predict(&task.input()?)?),
            "capacity" => to_json(&capacity::capacity(&task.input()?)?),
            other => Err(AgentError::unsupported(other)),
        }
    }
}

tandem_sdk::export_agent!(Optimizer);
