//! The shape of `shared/src`: no module imports another that imports it back (directly or
//! through others), and each layer depends only on the layers below it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`db::accounts`) → source without comments and unit-test modules.
fn modules(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("listing shared/src") {
            let path = entry.expect("reading a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(root).expect("a path under shared/src").with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).expect("reading a module");
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            let code: String =
                code.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
            out.insert(parts.join("::"), code);
        }
    }
    out
}

/// The modules `code` (of module `me`) refers to through `crate::` and `super::` paths.
fn references(me: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let here: Vec<&str> = if me.is_empty() { Vec::new() } else { me.split("::").collect() };
    for (i, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        let tail: String =
            code[i..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{').collect();
        let mut path: Vec<String> = Vec::new();
        let mut segs = tail.trim_end_matches('{').split("::").filter(|s| !s.is_empty()).peekable();
        match segs.next() {
            Some("crate") => {}
            Some("super") => {
                path = here.iter().map(|s| s.to_string()).collect();
                path.pop();
                while segs.peek() == Some(&"super") {
                    segs.next();
                    path.pop();
                }
            }
            _ => continue,
        }
        path.extend(segs.map(str::to_string));
        // The longest prefix that is a module; items inside `{…}` lists name modules too.
        let braces = code[i + tail.len() - usize::from(tail.ends_with('{'))..].strip_prefix('{');
        let mut candidates = vec![path.clone()];
        if let Some(list) = braces.and_then(|b| b.split('}').next()) {
            for item in list.split(',') {
                let name = item.trim().split(' ').next().unwrap_or_default().split("::").next().unwrap_or_default();
                if !name.is_empty() && name != "self" {
                    let mut p = path.clone();
                    p.push(name.to_string());
                    candidates.push(p);
                }
            }
        }
        for mut p in candidates {
            while !p.is_empty() {
                let m = p.join("::");
                if known.contains(&m) {
                    if m != me && !me.starts_with(&format!("{m}::")) {
                        found.insert(m);
                    }
                    break;
                }
                p.pop();
            }
        }
    }
    found
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or_default()
}

#[test]
fn shared_has_one_direction_and_no_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src");
    let mods = modules(&root);
    let known: BTreeSet<String> = mods.keys().cloned().collect();
    let graph: BTreeMap<&String, BTreeSet<String>> =
        mods.iter().map(|(m, code)| (m, references(m, code, &known))).collect();
    assert!(graph.len() > 40, "found only {} modules under {}", graph.len(), root.display());
    let orders = graph.iter().find(|(m, _)| m.as_str() == "flows::orders").map(|(_, r)| r);
    assert!(
        orders.is_some_and(|r| r.contains("db::orders") && r.contains("domain::smm")),
        "the reference scan must see flows::orders use db::orders and domain::smm: {orders:?}"
    );

    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("platform", &["platform", "error"][..]),
        ("domain", &["domain", "platform", "error"][..]),
        ("db", &["db", "domain", "platform", "error"][..]),
        ("upstream", &["upstream", "domain", "platform", "error"][..]),
        ("flows", &["flows", "db", "upstream", "domain", "platform", "error"][..]),
        ("error", &["error"][..]),
    ]);
    let mut violations = Vec::new();
    for (m, refs) in &graph {
        let Some(ok) = allowed.get(layer(m)) else { continue };
        for r in refs {
            if !ok.contains(&layer(r)) {
                violations.push(format!("{m} -> {r}"));
            }
        }
    }
    assert!(violations.is_empty(), "imports against the layer direction: {violations:?}");

    // A cycle: a module reachable from one of its own references.
    for (m, refs) in &graph {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = refs.iter().cloned().collect();
        while let Some(n) = stack.pop() {
            assert!(&n != *m, "{m} imports itself back through {n}'s chain: {seen:?}");
            if seen.insert(n.clone()) {
                stack.extend(graph.get(&n).into_iter().flatten().cloned());
            }
        }
    }
}
