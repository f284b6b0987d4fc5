//! No import cycles between the files of any crate in the tree: the operator, each crate under
//! crates/ and each test binary under tests/.
//!
//! The rule. A file depends on another when it names something the other defines: a `use` of
//! `crate::`, `self::`, `super::` or a child module's path, or such a path written inline
//! (`crate::x::f()`). A path is followed through the `use`s on its way to the file that defines
//! its target: `crate::cloud::Profile`, which cloud/mod.rs re-exports from cloud/profile.rs,
//! is a dependency on profile.rs, not on mod.rs. A `mod child;` declaration is not a dependency:
//! a parent holding its children is the tree itself; nor is a parent's `pub use child::X`, which
//! is the parent's interface (paths through it lead on to the child). A parent that calls into a
//! child (`child::f()`, or a private `use` of it) depends on it, and a child that uses an item its
//! parent defines (`super::X`) depends on the parent: both at once is a cycle, as between any two
//! files. `#[cfg(test)]` code counts: a test module inside a file is that file; tests that need
//! what depends on their module live in a file of their own (`oidc/tests.rs`).

mod lex;
mod tree;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use tree::{Crate, Reference};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The root file of every crate (library, binary, test binary) in the tree.
fn crate_roots() -> Vec<PathBuf> {
    let mut roots = vec![root().join("src/lib.rs"), root().join("src/main.rs")];
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for dir in dirs {
        roots.extend(["src/lib.rs", "src/main.rs"].map(|f| dir.join(f)).into_iter().filter(|f| f.exists()));
    }
    let mut tests: Vec<PathBuf> = std::fs::read_dir(root().join("tests")).unwrap().map(|e| e.unwrap().path()).collect();
    tests.sort();
    for entry in tests {
        if entry.extension().is_some_and(|e| e == "rs") {
            roots.push(entry);
        } else if entry.join("main.rs").exists() {
            roots.push(entry.join("main.rs"));
        }
    }
    roots
}

/// File -> the files it depends on, each with the first reference that makes it so.
type Graph<'a> = BTreeMap<&'a Path, BTreeMap<&'a Path, &'a Reference>>;

fn graph(krate: &Crate) -> Graph<'_> {
    let mut graph = Graph::new();
    for m in krate.modules.values() {
        graph.entry(m.file.as_path()).or_default();
    }
    for reference in &krate.references {
        let Some(target) = krate.locate(reference) else { continue };
        // A parent's `pub use child::X` is its interface, not a use: paths through it lead on to
        // the child.
        let reexport = reference.public_use && target.starts_with(&reference.module);
        let file = krate.modules[&target].file.as_path();
        if !reexport && file != reference.file {
            graph.entry(reference.file.as_path()).or_default().entry(file).or_insert(reference);
        }
    }
    graph
}

/// The strongly connected components of more than one file (Tarjan's algorithm).
fn cycles<'a>(graph: &Graph<'a>) -> Vec<Vec<&'a Path>> {
    struct State<'a, 'g> {
        graph: &'g Graph<'a>,
        index: BTreeMap<&'a Path, usize>,
        low: BTreeMap<&'a Path, usize>,
        stack: Vec<&'a Path>,
        found: Vec<Vec<&'a Path>>,
    }
    fn visit<'a>(s: &mut State<'a, '_>, node: &'a Path) {
        let n = s.index.len();
        s.index.insert(node, n);
        s.low.insert(node, n);
        s.stack.push(node);
        for &next in s.graph[node].keys() {
            if !s.index.contains_key(next) {
                visit(s, next);
                s.low.insert(node, s.low[node].min(s.low[next]));
            } else if s.stack.contains(&next) {
                s.low.insert(node, s.low[node].min(s.index[next]));
            }
        }
        if s.low[node] == s.index[node] {
            let at = s.stack.iter().rposition(|&p| p == node).unwrap();
            let component = s.stack.split_off(at);
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for &node in graph.keys() {
        if !s.index.contains_key(node) {
            visit(&mut s, node);
        }
    }
    s.found
}

/// One cycle through `component`'s first file, each step with the reference that makes it, e.g.
/// `a.rs:3 crate::b::f -> b.rs`.
fn describe(graph: &Graph, component: &[&Path]) -> String {
    let start = component[0];
    // Breadth-first inside the component, back to the start.
    let mut came_from: BTreeMap<&Path, &Path> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    'search: while let Some(node) = queue.pop_front() {
        for &next in graph[node].keys().filter(|n| component.contains(n)) {
            if next == start {
                came_from.insert(start, node);
                break 'search;
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    let mut steps = Vec::new();
    let mut to = start;
    loop {
        let from = came_from[to];
        let r = graph[from][to];
        steps.push(format!("  {}:{} {} -> {}", short(from), r.line, r.path.join("::"), short(to)));
        to = from;
        if to == start {
            break;
        }
    }
    steps.reverse();
    let files: Vec<String> = component.iter().map(|f| short(f)).collect();
    format!("cycle among {}:\n{}", files.join(", "), steps.join("\n"))
}

fn short(file: &Path) -> String {
    file.strip_prefix(root()).unwrap_or(file).display().to_string()
}

#[test]
fn no_import_cycles_in_any_crate() {
    let mut found = Vec::new();
    for crate_root in crate_roots() {
        let krate = Crate::read(&crate_root);
        let graph = graph(&krate);
        for component in cycles(&graph) {
            found.push(format!("{}: {}", short(&crate_root), describe(&graph, &component)));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn a_cycle_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    // The parent re-exports a (no dependency on it by itself) and uses b; b uses the parent's
    // item; a uses b through the re-export path of its parent.
    write("lib.rs", "mod a;\nmod b;\npub use a::A;\npub struct P;\nfn f() { b::g(); }\n");
    write("a.rs", "pub struct A;\nfn h() { crate::b::g(); }\n");
    write("b.rs", "use super::P;\npub fn g() {}\n");
    let krate = Crate::read(&dir.path().join("lib.rs"));
    let graph = graph(&krate);
    let found: Vec<Vec<String>> = cycles(&graph)
        .iter()
        .map(|c| c.iter().map(|f| f.file_name().unwrap().to_str().unwrap().to_owned()).collect())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    let mut files = found[0].clone();
    files.sort();
    assert_eq!(files, ["b.rs", "lib.rs"]);
}
