//! The critical path method over a dependency graph of timed steps, for OPTIMIZER's
//! `analyse-graph` and PROJECTORCHESTRATOR's plans: a topological order (or the cycle named as the
//! host's scheduler names it), each step's earliest and latest start with unbounded workers, its
//! slack, and the critical path (the chain whose delay delays the whole run).

use std::collections::HashMap;

/// A graph of `ids.len()` steps: the indices each step depends on, and their reverse.
pub struct Dag<'a> {
    /// The steps' ids, for messages.
    pub ids: Vec<&'a str>,
    /// `preds[i]`: the steps `i` depends on.
    pub preds: Vec<Vec<usize>>,
    /// `succs[i]`: the steps that depend on `i`.
    pub succs: Vec<Vec<usize>>,
}

impl<'a> Dag<'a> {
    /// The graph of steps `(id, depends-on)`; a duplicate id or a dependency on an unknown id is an
    /// error that names it.
    pub fn new<I, D>(steps: I) -> Result<Dag<'a>, String>
    where
        I: IntoIterator<Item = (&'a str, D)>,
        D: IntoIterator<Item = &'a str>,
    {
        let steps: Vec<(&str, Vec<&str>)> = steps
            .into_iter()
            .map(|(id, deps)| (id, deps.into_iter().collect()))
            .collect();
        let mut index = HashMap::new();
        for (i, (id, _)) in steps.iter().enumerate() {
            if index.insert(*id, i).is_some() {
                return Err(format!("two nodes have the id `{id}`"));
            }
        }
        let n = steps.len();
        let mut preds = vec![Vec::new(); n];
        let mut succs = vec![Vec::new(); n];
        for (i, (id, deps)) in steps.iter().enumerate() {
            for dep in deps {
                let Some(&d) = index.get(dep) else {
                    return Err(format!(
                        "node `{id}` depends on `{dep}`, which is not in the plan"
                    ));
                };
                preds[i].push(d);
                succs[d].push(i);
            }
        }
        Ok(Dag {
            ids: steps.iter().map(|(id, _)| *id).collect(),
            preds,
            succs,
        })
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no steps.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Kahn's order, or the cycle named as the scheduler names it (`dependency cycle: p -> q -> p`).
    pub fn order(&self) -> Result<Vec<usize>, String> {
        let n = self.len();
        let mut waiting: Vec<usize> = self.preds.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).rev().collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop() {
            order.push(i);
            for &s in &self.succs[i] {
                waiting[s] -= 1;
                if waiting[s] == 0 {
                    ready.push(s);
                }
            }
        }
        if order.len() == n {
            return Ok(order);
        }
        // Walk back along unfinished predecessors until a step repeats: that loop is a cycle.
        let mut at = (0..n).find(|&i| waiting[i] > 0).expect("a step left");
        let mut seen = HashMap::new();
        let mut walk = Vec::new();
        while !seen.contains_key(&at) {
            seen.insert(at, walk.len());
            walk.push(at);
            at = *self.preds[at]
                .iter()
                .find(|&&p| waiting[p] > 0)
                .expect("an unfinished predecessor");
        }
        let mut cycle: Vec<&str> = walk[seen[&at]..]
            .iter()
            .rev()
            .map(|&i| self.ids[i])
            .collect();
        cycle.push(cycle[0]);
        Err(format!("dependency cycle: {}", cycle.join(" -> ")))
    }

    /// The critical path method with `duration[i]` per step, over the steps `active` leaves in
    /// (all when it is `None`; a step left out neither runs nor holds up its dependents' start).
    pub fn schedule(&self, order: &[usize], duration: &[f64], active: Option<&[bool]>) -> Schedule {
        let n = self.len();
        let on = |i: usize| active.is_none_or(|a| a[i]);
        let mut earliest = vec![0.0f64; n];
        for &i in order.iter().filter(|&&i| on(i)) {
            earliest[i] = self.preds[i]
                .iter()
                .filter(|&&p| on(p))
                .map(|&p| earliest[p] + duration[p])
                .fold(0.0, f64::max);
        }
        let makespan = (0..n)
            .filter(|&i| on(i))
            .map(|i| earliest[i] + duration[i])
            .fold(0.0, f64::max);
        let mut latest = vec![0.0f64; n];
        for &i in order.iter().rev().filter(|&&i| on(i)) {
            let finish = self.succs[i]
                .iter()
                .filter(|&&s| on(s))
                .map(|&s| latest[s])
                .fold(makespan, f64::min);
            latest[i] = finish - duration[i];
        }
        let eps = makespan * 1e-9 + 1e-9;
        let critical: Vec<bool> = (0..n)
            .map(|i| on(i) && latest[i] - earliest[i] <= eps)
            .collect();
        // The path: from a critical step that starts at 0, follow critical successors that start
        // the moment it ends (the first in plan order when several do).
        let mut path = Vec::new();
        let mut at = order
            .iter()
            .copied()
            .find(|&i| critical[i] && earliest[i] <= eps);
        while let Some(i) = at {
            path.push(i);
            let end = earliest[i] + duration[i];
            at = self.succs[i]
                .iter()
                .copied()
                .filter(|&s| critical[s] && (earliest[s] - end).abs() <= eps)
                .min();
        }
        let slack = (0..n)
            .map(|i| {
                // Within rounding of zero for a critical step: said as zero.
                if critical[i] || !on(i) {
                    0.0
                } else {
                    latest[i] - earliest[i]
                }
            })
            .collect();
        Schedule {
            earliest,
            latest,
            slack,
            critical,
            path,
            makespan,
        }
    }
}

/// What the critical path method gives.
pub struct Schedule {
    /// The earliest start of each step.
    pub earliest: Vec<f64>,
    /// The latest start that does not delay the run.
    pub latest: Vec<f64>,
    /// `latest - earliest`, zero on the critical path.
    pub slack: Vec<f64>,
    /// Whether each step is on a critical path.
    pub critical: Vec<bool>,
    /// One critical path, first step first.
    pub path: Vec<usize>,
    /// The run's length with unbounded workers.
    pub makespan: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a(3) -> b(2) -> d(4); a -> c(1) -> d; e(2) alone. Earliest: a 0, b 3, c 3, d 5, e 0;
    /// makespan 9; critical a, b, d; slack c 1, e 7.
    fn diamond() -> Dag<'static> {
        Dag::new([
            ("a", vec![]),
            ("b", vec!["a"]),
            ("c", vec!["a"]),
            ("d", vec!["b", "c"]),
            ("e", vec![]),
        ])
        .unwrap()
    }

    #[test]
    fn a_hand_computed_schedule() {
        let dag = diamond();
        let order = dag.order().unwrap();
        let s = dag.schedule(&order, &[3.0, 2.0, 1.0, 4.0, 2.0], None);
        assert_eq!(s.makespan, 9.0);
        assert_eq!(s.path, [0, 1, 3]);
        assert_eq!(s.slack, [0.0, 0.0, 1.0, 0.0, 7.0]);
    }

    #[test]
    fn leaving_steps_out_replans_what_is_left() {
        let dag = diamond();
        let order = dag.order().unwrap();
        // b failed, so d is blocked: what is left is a -> c and e.
        let active = [true, false, true, false, true];
        let s = dag.schedule(&order, &[3.0, 2.0, 1.0, 4.0, 2.0], Some(&active));
        assert_eq!(s.makespan, 4.0);
        assert_eq!(s.path, [0, 2]);
        assert_eq!(s.slack[4], 2.0);
        assert!(!s.critical[1] && !s.critical[3]);
    }

    #[test]
    fn cycles_duplicates_and_unknown_dependencies_are_named() {
        let cyclic = Dag::new([("p", vec!["r"]), ("q", vec!["p"]), ("r", vec!["q"])]).unwrap();
        let err = cyclic.order().unwrap_err();
        assert!(err.starts_with("dependency cycle: "), "{err}");
        assert_eq!(err.matches("->").count(), 3, "{err}");
        assert!(
            Dag::new([("p", vec![]), ("p", vec![])])
                .err()
                .unwrap()
                .contains("two nodes have the id `p`")
        );
        assert!(
            Dag::new([("p", vec!["x"])])
                .err()
                .unwrap()
                .contains("`x`, which is not in the plan")
        );
    }
}
