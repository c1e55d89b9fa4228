//! The rules of one agent calling another through the host: the caller's manifest must name the
//! callee, the hop must not close a cycle, the chain must not grow past [`MAX_DEPTH`], and the callee
//! inherits the caller's trace and what is left of its deadline.

use std::time::Instant;

use crate::dispatch::Origin;

/// The longest delegation chain, the user's call included.
pub const MAX_DEPTH: usize = 8;

/// A caller about to delegate: who it is and what its own call carries.
pub struct Caller<'a> {
    pub agent: &'a str,
    pub chain: &'a [String],
    pub trace_id: &'a str,
    pub deadline: Instant,
    pub granted: &'a [String],
}

impl Caller<'_> {
    /// The origin of a call to `callee`, or why the hop is refused.
    pub fn hop(&self, callee: &str) -> Result<Origin, String> {
        if !self.granted.iter().any(|granted| granted == callee) {
            return Err(format!(
                "`{}` may not delegate to `{callee}`: not granted in its manifest",
                self.agent
            ));
        }
        if callee == self.agent || self.chain.iter().any(|a| a == callee) {
            let mut cycle: Vec<&str> = self
                .chain
                .iter()
                .map(String::as_str)
                .skip_while(|a| *a != callee)
                .collect();
            cycle.extend([self.agent, callee]);
            if cycle.first() != Some(&callee) {
                cycle.insert(0, callee);
            }
            return Err(format!("delegation cycle refused: {}", cycle.join(" -> ")));
        }
        if self.chain.len() + 2 > MAX_DEPTH {
            return Err(format!(
                "delegation chain too deep: {} agents, at most {MAX_DEPTH}",
                self.chain.len() + 2
            ));
        }
        let mut chain = self.chain.to_vec();
        chain.push(self.agent.to_string());
        Ok(Origin {
            trace_id: Some(self.trace_id.to_string()),
            chain,
            deadline: Some(self.deadline),
            max_attempts: None,
            no_cache: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller<'a>(agent: &'a str, chain: &'a [String], granted: &'a [String]) -> Caller<'a> {
        Caller {
            agent,
            chain,
            trace_id: "t",
            deadline: Instant::now(),
            granted,
        }
    }

    #[test]
    fn a_granted_hop_extends_the_chain_and_keeps_trace_and_deadline() {
        let (chain, granted) = (vec!["a".to_string()], vec!["c".to_string()]);
        let c = caller("b", &chain, &granted);
        let origin = c.hop("c").unwrap();
        assert_eq!(origin.chain, ["a", "b"]);
        assert_eq!(origin.trace_id.as_deref(), Some("t"));
        assert_eq!(origin.deadline, Some(c.deadline));
    }

    #[test]
    fn ungranted_cyclic_and_too_deep_hops_are_refused_with_the_reason() {
        let granted = vec!["a".to_string(), "b".to_string(), "z".to_string()];
        assert_eq!(
            caller("b", &[], &[]).hop("a").unwrap_err(),
            "`b` may not delegate to `a`: not granted in its manifest"
        );
        let chain = vec!["a".to_string()];
        assert_eq!(
            caller("b", &chain, &granted).hop("a").unwrap_err(),
            "delegation cycle refused: a -> b -> a"
        );
        assert_eq!(
            caller("b", &[], &granted).hop("b").unwrap_err(),
            "delegation cycle refused: b -> b"
        );
        let deep: Vec<String> = (0..7).map(|i| format!("x{i}")).collect();
        assert!(
            caller("y", &deep, &granted)
                .hop("z")
                .unwrap_err()
                .contains("too deep")
        );
    }
}
