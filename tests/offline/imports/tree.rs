//! One crate's module tree, read from its root file through its `mod` declarations, and every
//! path in it that may name one of its modules: `use` trees and inline paths of two or more
//! segments. Which of those are references inside the crate is for [`Crate::locate`] to say.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::lex::{Kind, Token, tokens};

/// A module by its path from the crate root (`[]` is the root).
pub type ModPath = Vec<String>;

pub struct Module {
    pub file: PathBuf,
    /// What a `use` brings in, by the name it is known by here: the path as written.
    bindings: BTreeMap<String, Vec<String>>,
    /// `use x::*`: the paths as written.
    globs: Vec<Vec<String>>,
}

/// A path written in `module` (in `file`, at `line`), as written.
pub struct Reference {
    pub module: ModPath,
    pub file: PathBuf,
    pub line: usize,
    pub path: Vec<String>,
    /// Written in a `pub use` (any visibility but private).
    pub public_use: bool,
}

pub struct Crate {
    pub modules: BTreeMap<ModPath, Module>,
    pub references: Vec<Reference>,
}

impl Crate {
    pub fn read(root: &Path) -> Crate {
        let mut krate = Crate { modules: BTreeMap::new(), references: Vec::new() };
        krate.read_file(root, Vec::new(), root.parent().unwrap().to_owned());
        krate
    }

    /// Reads `file`, module `path`, whose children's files are in `dir`.
    fn read_file(&mut self, file: &Path, path: ModPath, dir: PathBuf) {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let tokens = tokens(&text);
        self.add_module(path.clone(), file);
        // The modules open at this point, inline ones (`mod tests { .. }`) on top: their path, their
        // children's directory and the brace depth they close at.
        let mut open = vec![(path, dir, 0usize)];
        let mut depth = 0;
        let mut i = 0;
        while i < tokens.len() {
            let (module, dir, _) = open.last().unwrap().clone();
            let t = &tokens[i];
            if t.is_punct('{') {
                depth += 1;
            } else if t.is_punct('}') {
                if open.last().unwrap().2 == depth {
                    open.pop();
                }
                depth -= 1;
            } else if t.is_ident("mod") && i + 2 < tokens.len() && !follows_path_separator(&tokens, i) {
                let Some(name) = tokens[i + 1].ident().map(str::to_owned) else {
                    i += 1;
                    continue;
                };
                let child = [module.clone(), vec![name.clone()]].concat();
                if tokens[i + 2].is_punct('{') {
                    self.add_module(child.clone(), file);
                    depth += 1;
                    open.push((child, dir.join(&name), depth));
                } else if tokens[i + 2].is_punct(';') {
                    let child_file = match path_attribute(&tokens, i) {
                        Some(relative) => dir_of_attribute(file, &dir, &open).join(relative),
                        None if dir.join(format!("{name}.rs")).exists() => dir.join(format!("{name}.rs")),
                        None => dir.join(&name).join("mod.rs"),
                    };
                    // A file named by #[path], like a mod.rs, holds its children beside it.
                    let child_dir = if child_file.ends_with("mod.rs") || path_attribute(&tokens, i).is_some() {
                        child_file.parent().unwrap().to_owned()
                    } else {
                        dir.join(&name)
                    };
                    self.read_file(&child_file, child, child_dir);
                }
                i += 2;
            } else if t.is_ident("use") {
                i = self.read_use(&tokens, i + 1, &module, file);
                continue;
            } else if let Some(first) = t.ident()
                && tokens.get(i + 1).is_some_and(|t| t.is_punct(':'))
                && tokens.get(i + 2).is_some_and(|t| t.is_punct(':'))
                && !follows_path_separator(&tokens, i)
                && !is_visibility(&tokens, i)
            {
                let mut path = vec![first.to_owned()];
                let mut j = i + 3;
                while let Some(segment) = tokens.get(j).and_then(Token::ident) {
                    path.push(segment.to_owned());
                    if !(tokens.get(j + 1).is_some_and(|t| t.is_punct(':'))
                        && tokens.get(j + 2).is_some_and(|t| t.is_punct(':')))
                    {
                        break;
                    }
                    j += 3;
                }
                self.references.push(Reference {
                    module,
                    file: file.to_owned(),
                    line: t.line,
                    path,
                    public_use: false,
                });
                i = j;
            }
            i += 1;
        }
    }

    fn add_module(&mut self, path: ModPath, file: &Path) {
        let module = Module { file: file.to_owned(), bindings: BTreeMap::new(), globs: Vec::new() };
        self.modules.entry(path).or_insert(module);
    }

    /// Reads the use tree starting at `i` up to its `;`, recording each path it names and each name
    /// it binds; returns the index after the `;`.
    fn read_use(&mut self, tokens: &[Token], mut i: usize, module: &ModPath, file: &Path) -> usize {
        let line = tokens[i - 1].line;
        let public_use = i >= 2 && (tokens[i - 2].is_ident("pub") || tokens[i - 2].is_punct(')'));
        let mut leaves = Vec::new();
        use_tree(tokens, &mut i, Vec::new(), &mut leaves);
        for (path, name) in leaves {
            let m = self.modules.get_mut(module).unwrap();
            match name {
                Some(name) => {
                    m.bindings.insert(name, path.clone());
                }
                None => m.globs.push(path.clone()),
            }
            let reference = Reference { module: module.clone(), file: file.to_owned(), line, path, public_use };
            self.references.push(reference);
        }
        while i < tokens.len() && !tokens[i].is_punct(';') {
            i += 1;
        }
        i + 1
    }

    /// The module `path` (as written in `module`) starts from, and the rest of it; `None` for
    /// another crate's path.
    fn start(&self, module: &ModPath, path: &[String], hops: usize) -> Option<(ModPath, Vec<String>)> {
        let (first, rest) = path.split_first()?;
        let child = [module.clone(), vec![first.clone()]].concat();
        match first.as_str() {
            "crate" => Some((Vec::new(), rest.to_vec())),
            "self" => Some((module.clone(), rest.to_vec())),
            "super" => {
                let parent = module[..module.len().checked_sub(1)?].to_vec();
                self.start(&parent, &[vec!["self".to_owned()], rest.to_vec()].concat(), hops)
            }
            _ if self.modules.contains_key(&child) => Some((child, rest.to_vec())),
            _ if hops > 8 => None,
            _ => {
                let m = self.modules.get(module)?;
                if let Some(bound) = m.bindings.get(first) {
                    let (base, tail) = self.start(module, bound, hops + 1)?;
                    return Some((base, [tail, rest.to_vec()].concat()));
                }
                // A name a glob import brings in (`use super::*` in tests).
                m.globs.iter().find_map(|glob| {
                    let (base, tail) = self.start(module, glob, hops + 1)?;
                    let target = self.walk(&[base, tail].concat(), hops + 1);
                    let inner = [target.clone(), vec![first.clone()]].concat();
                    let named = self.modules.contains_key(&inner)
                        || self.modules.get(&target).is_some_and(|t| t.bindings.contains_key(first));
                    named.then(|| (target, path.to_vec()))
                })
            }
        }
    }

    /// The deepest module `path` (absolute) leads to, through the `use`s of the modules on the way:
    /// `crate::cloud::Profile` leads to `cloud::profile` when cloud/mod.rs re-exports it.
    fn walk(&self, path: &[String], hops: usize) -> ModPath {
        let mut at: ModPath = Vec::new();
        for (k, segment) in path.iter().enumerate() {
            let child = [at.clone(), vec![segment.clone()]].concat();
            if self.modules.contains_key(&child) {
                at = child;
                continue;
            }
            if hops < 8
                && let Some(bound) = self.modules[&at].bindings.get(segment)
                && let Some((base, tail)) = self.start(&at, bound, hops + 1)
            {
                return self.walk(&[base, tail, path[k + 1..].to_vec()].concat(), hops + 1);
            }
            break;
        }
        at
    }

    /// The module that defines what `reference` names, when it is in this crate.
    pub fn locate(&self, reference: &Reference) -> Option<ModPath> {
        let (base, rest) = self.start(&reference.module, &reference.path, 0)?;
        Some(self.walk(&[base, rest].concat(), 0))
    }
}

/// The leaves of the use tree at `i`: each full path with the name it binds (`None` for a glob).
fn use_tree(tokens: &[Token], i: &mut usize, prefix: Vec<String>, leaves: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut path = prefix;
    loop {
        let Some(t) = tokens.get(*i) else { return };
        match &t.kind {
            Kind::Punct(':') => *i += 1,
            Kind::Punct('*') => {
                *i += 1;
                leaves.push((path, None));
                return;
            }
            Kind::Punct('{') => {
                *i += 1;
                while !tokens[*i].is_punct('}') {
                    let before = *i;
                    use_tree(tokens, i, path.clone(), leaves);
                    if tokens[*i].is_punct(',') || *i == before {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Kind::Ident(segment) => {
                *i += 1;
                // `self` in braces names the prefix itself.
                if segment != "self" || path.is_empty() {
                    path.push(segment.clone());
                }
                let continues = tokens.get(*i).is_some_and(|t| t.is_punct(':'));
                if !continues {
                    let mut name = path.last().cloned();
                    if tokens.get(*i).is_some_and(|t| t.is_ident("as")) {
                        name = tokens[*i + 1].ident().map(str::to_owned).filter(|n| n != "_");
                        *i += 2;
                    }
                    leaves.push((path, Some(name.unwrap_or_default())));
                    return;
                }
            }
            _ => return,
        }
    }
}

/// Inside a path already read (`a::b`), or a macro's metavariable (`$x::`; `$crate` is `crate`).
fn follows_path_separator(tokens: &[Token], i: usize) -> bool {
    i >= 1 && (tokens[i - 1].is_punct(':') || (tokens[i - 1].is_punct('$') && !tokens[i].is_ident("crate")))
}

/// `in crate::x` of a `pub(in crate::x)`: a visibility, not a use.
fn is_visibility(tokens: &[Token], i: usize) -> bool {
    i >= 3 && tokens[i - 1].is_ident("in") && tokens[i - 2].is_punct('(') && tokens[i - 3].is_ident("pub")
}

/// The `#[path = "..."]` among the attributes right before the `mod` at `i` (past a `pub(..)`).
fn path_attribute(tokens: &[Token], mut i: usize) -> Option<String> {
    while i > 0 && (tokens[i - 1].is_ident("pub") || tokens[i - 1].is_punct(')')) {
        // Step back over `pub` or `pub(crate)`.
        if tokens[i - 1].is_punct(')') {
            while !tokens[i - 1].is_punct('(') {
                i -= 1;
            }
            i -= 1;
        } else {
            i -= 1;
        }
    }
    while i > 0 && tokens[i - 1].is_punct(']') {
        let end = i - 1;
        let mut start = end;
        while !tokens[start].is_punct('[') {
            start -= 1;
        }
        if tokens[start + 1].is_ident("path")
            && let Kind::Str(path) = &tokens[start + 3].kind
        {
            return Some(path.clone());
        }
        i = start - 1; // before the `#`
    }
    None
}

/// The directory a `#[path]` on a `mod` in `file` is relative to: the file's own, outside an
/// inline module.
fn dir_of_attribute(file: &Path, dir: &Path, open: &[(ModPath, PathBuf, usize)]) -> PathBuf {
    if open.len() > 1 { dir.to_owned() } else { file.parent().unwrap().to_owned() }
}
