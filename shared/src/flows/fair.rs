//! Serving queued work fairly: every account gets its turn before any gets a second.

use std::collections::HashMap;

/// `items` (oldest first) reordered so each account's oldest comes first, then each
/// account's second oldest, and so on: one account's thousand queued items cannot keep
/// another's one waiting behind them.
pub fn round_robin<T>(items: Vec<T>, account: impl Fn(&T) -> &str) -> Vec<T> {
    let mut order: Vec<String> = Vec::new();
    let mut lanes: HashMap<String, std::collections::VecDeque<T>> = HashMap::new();
    for item in items {
        let a = account(&item).to_string();
        if !lanes.contains_key(&a) {
            order.push(a.clone());
        }
        lanes.entry(a).or_default().push_back(item);
    }
    let mut out = Vec::new();
    loop {
        let mut any = false;
        for a in &order {
            if let Some(item) = lanes.get_mut(a).and_then(|l| l.pop_front()) {
                out.push(item);
                any = true;
            }
        }
        if !any {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_gets_a_turn() {
        let items = vec![("a", 1), ("a", 2), ("a", 3), ("b", 1), ("a", 4), ("c", 1), ("b", 2)];
        let got: Vec<(&str, i32)> = round_robin(items, |i| i.0);
        assert_eq!(got, vec![("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("a", 3), ("a", 4)]);
        assert!(round_robin(Vec::<(&str, i32)>::new(), |i| i.0).is_empty());
    }
}
