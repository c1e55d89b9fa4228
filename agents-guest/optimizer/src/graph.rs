//! `analyse-graph`: a task plan (the scheduler's format, TOML or JSON) with a duration per node,
//! taken from `durations` or from a previous `tandem graph run --json`. Gives the critical path
//! (the chain of nodes whose delay delays the whole run), each node's slack (how late it may start
//! without delaying the run), the parallelism over time with unbounded workers, the bottleneck,
//! and what a concurrency bound costs: the plan is run in simulation the way the scheduler runs it
//! (ready nodes, the highest priority first, the plan's order among equals, within the bound and
//! the per-agent bound).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tandem_sdk::AgentError;

use guest_support::critical::{Dag, Schedule};
use guest_support::time::duration_ms;

/// A plan node as the analysis needs it (the scheduler's other keys are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlanNode {
    pub id: String,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub priority: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    pub nodes: Vec<PlanNode>,
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    #[serde(default)]
    pub max_per_agent: Option<usize>,
}

/// A plan given as JSON, or as TOML or JSON text.
pub fn read_plan(value: &serde_json::Value) -> Result<Plan, AgentError> {
    let plan: Result<Plan, String> = match value {
        serde_json::Value::String(text) if text.trim_start().starts_with('{') => {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }
        serde_json::Value::String(text) => toml::from_str(text).map_err(|e| e.to_string()),
        other => serde_json::from_value(other.clone()).map_err(|e| e.to_string()),
    };
    plan.map_err(|e| {
        AgentError::invalid(format!(
            "`plan` is not a plan (the scheduler's format: `nodes` with `id` and `depends-on`): {e}"
        ))
    })
}

/// One node's timing.
#[derive(Debug, Serialize)]
pub struct NodeTiming {
    pub id: String,
    pub duration_ms: f64,
    pub earliest_start_ms: f64,
    pub latest_start_ms: f64,
    pub slack_ms: f64,
    pub critical: bool,
}

#[derive(Debug, Serialize)]
pub struct BoundCost {
    pub concurrency: usize,
    pub makespan_ms: f64,
    /// Over the unbounded makespan.
    pub extra_ms: f64,
    pub slowdown: f64,
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub from_ms: f64,
    pub to_ms: f64,
    pub running: usize,
}

#[derive(Debug, Serialize)]
pub struct Analysis {
    pub nodes: usize,
    /// The run's length with unbounded workers: the critical path's length.
    pub makespan_ms: f64,
    pub total_work_ms: f64,
    pub critical_path: Vec<String>,
    /// The longest node on the critical path: shortening it shortens the run most.
    pub bottleneck: Option<Bottleneck>,
    /// Most nodes running at once with unbounded workers (each starting as early as it can), and
    /// the total work over the makespan.
    pub peak_parallelism: usize,
    pub average_parallelism: f64,
    /// Nodes running at each moment, as steps (with unbounded workers).
    pub profile: Vec<Step>,
    /// The plan's order of nodes, with their timings.
    pub timings: Vec<NodeTiming>,
    /// The makespan under each concurrency bound asked for (and the plan's own).
    pub bounds: Vec<BoundCost>,
}

#[derive(Debug, Serialize)]
pub struct Bottleneck {
    pub id: String,
    pub duration_ms: f64,
    /// Its share of the makespan.
    pub share: f64,
}

/// The most nodes analysed.
pub const MAX_NODES: usize = 100_000;

/// The durations of a previous run: `tandem graph run --json`'s `nodes[].duration_us`.
pub fn durations_of_run(run: &serde_json::Value) -> Result<HashMap<String, f64>, AgentError> {
    let nodes = run.get("nodes").and_then(|n| n.as_array()).ok_or_else(|| {
        AgentError::invalid(
            "`run` must be the JSON `tandem graph run --json` prints (with `nodes`)",
        )
    })?;
    let mut out = HashMap::new();
    for node in nodes {
        let (Some(id), Some(us)) = (
            node.get("id").and_then(|v| v.as_str()),
            node.get("duration_us").and_then(|v| v.as_f64()),
        ) else {
            return Err(AgentError::invalid(format!(
                "`run`: node {node} has no `id` and `duration_us`"
            )));
        };
        out.insert(id.to_string(), us / 1000.0);
    }
    Ok(out)
}

/// The analysis of `plan` with `durations` (milliseconds, by node id), simulated at `bounds`.
pub fn analyse(
    plan: &Plan,
    durations: &BTreeMap<String, serde_json::Value>,
    run: &HashMap<String, f64>,
    bounds: &[usize],
) -> Result<Analysis, AgentError> {
    let n = plan.nodes.len();
    if n == 0 {
        return Err(AgentError::invalid("the plan has no nodes"));
    }
    if n > MAX_NODES {
        return Err(AgentError::invalid(format!(
            "the plan has {n} nodes; at most {MAX_NODES}"
        )));
    }
    let dag = Dag::new(
        plan.nodes
            .iter()
            .map(|node| (node.id.as_str(), node.depends_on.iter().map(String::as_str))),
    )
    .map_err(AgentError::invalid)?;
    let mut duration = Vec::with_capacity(n);
    let mut missing = Vec::new();
    for node in &plan.nodes {
        match (durations.get(&node.id), run.get(&node.id)) {
            (Some(value), _) => {
                duration.push(duration_ms(value, &format!("durations.{}", node.id))?)
            }
            (None, Some(ms)) => duration.push(*ms),
            (None, None) => {
                missing.push(node.id.clone());
                duration.push(0.0);
            }
        }
    }
    if !missing.is_empty() {
        return Err(AgentError::invalid(format!(
            "no duration for {} node(s): {} (give `durations` or the `run` of a previous `tandem graph run --json`)",
            missing.len(),
            missing
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let order = dag.order().map_err(AgentError::invalid)?;
    let Schedule {
        earliest,
        latest,
        slack,
        critical,
        path,
        makespan,
    } = dag.schedule(&order, &duration, None);
    let bottleneck = path
        .iter()
        .copied()
        .max_by(|&a, &b| duration[a].total_cmp(&duration[b]).then(b.cmp(&a)))
        .map(|i| Bottleneck {
            id: plan.nodes[i].id.clone(),
            duration_ms: duration[i],
            share: if makespan > 0.0 {
                duration[i] / makespan
            } else {
                0.0
            },
        });

    // The profile with unbounded workers.
    let mut events: Vec<(f64, i64)> = Vec::with_capacity(2 * n);
    for i in 0..n {
        if duration[i] > 0.0 {
            events.push((earliest[i], 1));
            events.push((earliest[i] + duration[i], -1));
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut profile: Vec<Step> = Vec::new();
    let mut running = 0i64;
    let mut k = 0;
    while k < events.len() {
        let t = events[k].0;
        while k < events.len() && events[k].0 == t {
            running += events[k].1;
            k += 1;
        }
        if let Some(last) = profile.last_mut() {
            last.to_ms = t;
        }
        if k < events.len() {
            if profile
                .last()
                .is_some_and(|s| s.running == running as usize)
            {
                continue;
            }
            profile.push(Step {
                from_ms: t,
                to_ms: t,
                running: running as usize,
            });
        }
    }
    let peak = profile.iter().map(|s| s.running).max().unwrap_or(0);
    let total: f64 = duration.iter().sum();

    if plan.max_per_agent == Some(0) {
        return Err(AgentError::invalid("`max-per-agent` must be at least 1"));
    }
    let mut wanted: Vec<usize> = bounds.to_vec();
    if let Some(own) = plan.max_concurrency {
        wanted.push(own);
    }
    if wanted.is_empty() {
        wanted = vec![1, 2, 4, 8, 16, 64];
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut costs = Vec::new();
    for bound in wanted {
        if bound == 0 {
            return Err(AgentError::invalid(
                "a concurrency bound must be at least 1",
            ));
        }
        let span = simulate(plan, &dag, &duration, bound, plan.max_per_agent);
        costs.push(BoundCost {
            concurrency: bound,
            makespan_ms: span,
            extra_ms: span - makespan,
            slowdown: if makespan > 0.0 { span / makespan } else { 1.0 },
        });
    }
    Ok(Analysis {
        nodes: n,
        makespan_ms: makespan,
        total_work_ms: total,
        critical_path: path.iter().map(|&i| plan.nodes[i].id.clone()).collect(),
        bottleneck,
        peak_parallelism: peak,
        average_parallelism: if makespan > 0.0 {
            total / makespan
        } else {
            0.0
        },
        profile,
        timings: (0..n)
            .map(|i| NodeTiming {
                id: plan.nodes[i].id.clone(),
                duration_ms: duration[i],
                earliest_start_ms: earliest[i],
                latest_start_ms: latest[i],
                slack_ms: slack[i],
                critical: critical[i],
            })
            .collect(),
        bounds: costs,
    })
}

/// The makespan when at most `bound` nodes run at once (and `per_agent` of one agent): ready nodes
/// start in priority order, then plan order, whenever a slot is free.
fn simulate(
    plan: &Plan,
    dag: &Dag,
    duration: &[f64],
    bound: usize,
    per_agent: Option<usize>,
) -> f64 {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = dag.len();
    let mut waiting: Vec<usize> = dag.preds.iter().map(Vec::len).collect();
    // Ready: the highest priority first, then the lowest index.
    let mut ready: BinaryHeap<(i32, Reverse<usize>)> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| (plan.nodes[i].priority, Reverse(i)))
        .collect();
    // Running: the earliest finish first.
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut per: HashMap<&str, usize> = HashMap::new();
    let mut held: Vec<(i32, Reverse<usize>)> = Vec::new();
    let mut now = 0.0f64;
    let mut done = 0;
    let key = |t: f64| t.to_bits();
    while done < n {
        while running.len() < bound {
            let Some(next) = ready.pop() else { break };
            let agent = plan.nodes[next.1.0].agent.as_str();
            if per_agent.is_some_and(|cap| per.get(agent).copied().unwrap_or(0) >= cap) {
                held.push(next);
                continue;
            }
            *per.entry(agent).or_default() += 1;
            running.push(Reverse((key(now + duration[next.1.0]), next.1.0)));
        }
        ready.extend(held.drain(..));
        let Some(Reverse((finish, i))) = running.pop() else {
            break;
        };
        now = f64::from_bits(finish);
        done += 1;
        if let Some(count) = per.get_mut(plan.nodes[i].agent.as_str()) {
            *count -= 1;
        }
        for &s in &dag.succs[i] {
            waiting[s] -= 1;
            if waiting[s] == 0 {
                ready.push((plan.nodes[s].priority, Reverse(s)));
            }
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(text: &str) -> Plan {
        read_plan(&json!(text)).unwrap()
    }

    #[test]
    fn critical_path_and_slack_of_a_hand_computed_plan() {
        // a(3) -> b(2) -> d(4); a -> c(1) -> d; e(2) alone.
        // Earliest: a 0, b 3, c 3, d 5, e 0; makespan 9. Critical: a, b, d. Slack: c 1, e 7.
        let p = plan(
            r#"
            [[nodes]]
            id = "a"
            [[nodes]]
            id = "b"
            depends-on = ["a"]
            [[nodes]]
            id = "c"
            depends-on = ["a"]
            [[nodes]]
            id = "d"
            depends-on = ["b", "c"]
            [[nodes]]
            id = "e"
        "#,
        );
        let durations: BTreeMap<String, serde_json::Value> = [
            ("a", json!(3)),
            ("b", json!("2ms")),
            ("c", json!(1)),
            ("d", json!(4)),
            ("e", json!(2)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let a = analyse(&p, &durations, &HashMap::new(), &[1, 2]).unwrap();
        assert_eq!(a.makespan_ms, 9.0);
        assert_eq!(a.critical_path, ["a", "b", "d"]);
        let slack: Vec<f64> = a.timings.iter().map(|t| t.slack_ms).collect();
        assert_eq!(slack, [0.0, 0.0, 1.0, 0.0, 7.0]);
        assert_eq!(a.bottleneck.as_ref().unwrap().id, "d");
        assert_eq!(a.peak_parallelism, 2);
        assert_eq!(a.total_work_ms, 12.0);
        // One at a time: all the work in a row.
        assert_eq!(a.bounds[0].makespan_ms, 12.0);
        // Two: a and e, then b and c, then d: 3 + 2 + 4.
        assert_eq!(a.bounds[1].makespan_ms, 9.0);
    }

    #[test]
    fn cycles_unknown_dependencies_and_missing_durations_are_named() {
        let cyclic = plan(
            "[[nodes]]\nid = \"p\"\ndepends-on = [\"r\"]\n[[nodes]]\nid = \"q\"\ndepends-on = [\"p\"]\n[[nodes]]\nid = \"r\"\ndepends-on = [\"q\"]\n",
        );
        let d: BTreeMap<String, serde_json::Value> = ["p", "q", "r"]
            .iter()
            .map(|k| (k.to_string(), json!(1)))
            .collect();
        let err = format!(
            "{:?}",
            analyse(&cyclic, &d, &HashMap::new(), &[]).unwrap_err()
        );
        assert!(
            err.contains("dependency cycle: p -> q -> r -> p")
                || err.contains("dependency cycle: q -> r -> p -> q")
                || err.contains("dependency cycle: r -> p -> q -> r"),
            "{err}"
        );
        let zero = plan("max-per-agent = 0\n[[nodes]]\nid = \"p\"\n");
        let d1: BTreeMap<String, serde_json::Value> = [("p".to_string(), json!(1))].into();
        assert!(
            format!(
                "{:?}",
                analyse(&zero, &d1, &HashMap::new(), &[]).unwrap_err()
            )
            .contains("at least 1")
        );
        let unknown = plan("[[nodes]]\nid = \"p\"\ndepends-on = [\"x\"]\n");
        assert!(
            format!(
                "{:?}",
                analyse(&unknown, &d, &HashMap::new(), &[]).unwrap_err()
            )
            .contains("`x`, which is not in the plan")
        );
        let missing = plan("[[nodes]]\nid = \"z\"\n");
        assert!(
            format!(
                "{:?}",
                analyse(&missing, &d, &HashMap::new(), &[]).unwrap_err()
            )
            .contains("no duration for 1 node(s): z")
        );
    }
}
