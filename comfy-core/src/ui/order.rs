//! Kahn's topological order over indexed nodes, the way the editor orders a graph.

use std::collections::VecDeque;

/// The order of `n` nodes joined by `(origin, target)` edges: sources first, ties in index
/// order, nodes caught in a cycle last (in index order). Self-loops are ignored. No recursion.
pub(crate) struct Kahn {
    /// Every node once.
    pub order: Vec<usize>,
    /// How many of `order` were sorted; the rest are caught in a cycle.
    pub sorted: usize,
    /// Each node's level: the longest path from a source (for a node caught in a cycle, only
    /// over its sorted predecessors).
    pub level: Vec<usize>,
}

/// Sorts `n` nodes (see [`Kahn`]).
pub(crate) fn kahn(n: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Kahn {
    let mut indegree = vec![0usize; n];
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (o, t) in edges {
        if o != t && o < n && t < n {
            indegree[t] += 1;
            out_edges[o].push(t);
        }
    }
    let mut level = vec![0usize; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while let Some(i) = ready.pop_front() {
        order.push(i);
        placed[i] = true;
        for &t in &out_edges[i] {
            level[t] = level[t].max(level[i] + 1);
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push_back(t);
            }
        }
    }
    let sorted = order.len();
    order.extend((0..n).filter(|&i| !placed[i]));
    Kahn { order, sorted, level }
}

#[cfg(test)]
mod tests {
    use super::kahn;

    #[test]
    fn sources_first_ties_in_index_order_cycles_last() {
        // 0 → 2, 1 → 2, 2 → 3; 4 ⇄ 5 is a cycle; 6 loops on itself.
        let k = kahn(7, [(0, 2), (1, 2), (2, 3), (4, 5), (5, 4), (6, 6)]);
        assert_eq!(k.order, [0, 1, 6, 2, 3, 4, 5]);
        assert_eq!(k.sorted, 5);
        assert_eq!(&k.level[..4], [0, 0, 1, 2]);
        assert_eq!(k.level[6], 0);
    }
}
