//! The ready nodes of one agent, best first: the highest priority, then the earliest in the plan.
//!
//! The nodes ready from the start (those that depend on nothing) are sorted once and taken from the
//! end of a vector; only the nodes made ready later go through a heap. Taking the next node of a
//! wide graph is then a pop from a vector, not a sift through a heap of thousands.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A ready node's rank: greater is taken first.
type Rank = (i32, Reverse<usize>);

/// The ready nodes of one agent.
pub(super) struct Ready {
    /// The nodes ready from the start, best last.
    first: Vec<Rank>,
    /// The nodes made ready since.
    later: BinaryHeap<Rank>,
}

impl Ready {
    /// The queue of `nodes` (priority and index), all ready.
    pub(super) fn new(nodes: impl IntoIterator<Item = (i32, usize)>) -> Ready {
        let mut first: Vec<Rank> = nodes.into_iter().map(|(p, i)| (p, Reverse(i))).collect();
        first.sort_unstable();
        Ready {
            first,
            later: BinaryHeap::new(),
        }
    }

    /// Node `node` of priority `priority` is ready.
    pub(super) fn push(&mut self, priority: i32, node: usize) {
        self.later.push((priority, Reverse(node)));
    }

    /// The rank of the best ready node, to compare it with other agents' best.
    pub(super) fn best(&self) -> Option<(i32, Reverse<usize>)> {
        self.first.last().copied().max(self.later.peek().copied())
    }

    /// Takes the best ready node.
    pub(super) fn pop(&mut self) -> Option<usize> {
        let from_first = match (self.first.last(), self.later.peek()) {
            (Some(first), Some(later)) => first > later,
            (first, _) => first.is_some(),
        };
        let rank = match from_first {
            true => self.first.pop(),
            false => self.later.pop(),
        };
        rank.map(|(_, Reverse(node))| node)
    }

    /// How many nodes are ready.
    pub(super) fn len(&self) -> usize {
        self.first.len() + self.later.len()
    }

    /// Whether no node is ready.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Ready;

    #[test]
    fn best_priority_first_then_the_plan_order_whenever_nodes_became_ready() {
        let mut ready = Ready::new([(0, 3), (5, 7), (0, 1), (5, 2)]);
        ready.push(5, 0);
        ready.push(9, 8);
        ready.push(0, 4);
        let mut order = Vec::new();
        while let Some(node) = ready.pop() {
            order.push(node);
            if node == 2 {
                ready.push(5, 6);
            }
        }
        assert_eq!(order, [8, 0, 2, 6, 7, 1, 3, 4]);
        assert!(ready.is_empty() && ready.best().is_none());
    }
}
