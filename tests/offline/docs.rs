//! README.md is the first five minutes and docs/ holds the rest: README stays short and links
//! every page of docs/, and every relative link of README.md, deploy/README.md and docs/*.md leads
//! to a file that exists and, with an `#anchor`, to a heading of that file.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file in docs/, sorted.
fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(root().join("docs")).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files
}

/// The lines of a Markdown text outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            lines.push(line);
        }
    }
    lines
}

/// The targets of the inline links `[text](target)` of a Markdown text (not in code spans).
fn links(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        let outside_code: String = line.split('`').step_by(2).collect();
        let mut rest = outside_code.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

/// The anchors GitHub gives a Markdown text's headings: lowercase, punctuation removed, spaces as
/// `-`, and `-1`, `-2`, ... after a heading's second and later occurrences.
fn anchors(text: &str) -> Vec<String> {
    let mut slugs: Vec<String> = Vec::new();
    let mut anchors = Vec::new();
    for line in prose(text) {
        let title = line.trim_start_matches('#');
        if title.len() == line.len() || !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let seen = slugs.iter().filter(|s| **s == slug).count();
        anchors.push(if seen == 0 { slug.clone() } else { format!("{slug}-{seen}") });
        slugs.push(slug);
    }
    anchors
}

#[test]
fn readme_is_the_first_five_minutes() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(lines <= 200, "README.md has {lines} lines: move reference material to a page of docs/");
}

#[test]
fn readme_links_every_page_of_docs() {
    let linked: Vec<String> = links(&read(&root().join("README.md")))
        .into_iter()
        .map(|target| target.split('#').next().unwrap().to_owned())
        .collect();
    for file in doc_files() {
        let path = format!("docs/{}", file.file_name().unwrap().to_str().unwrap());
        assert!(linked.contains(&path), "README.md links no {path} (its \"Where to read more\" list)");
    }
}

#[test]
fn relative_links_lead_to_files_and_headings_that_exist() {
    let mut broken = Vec::new();
    let docs = doc_files().into_iter().filter(|file| file.extension().is_some_and(|e| e == "md"));
    for page in [root().join("README.md"), root().join("deploy/README.md")].into_iter().chain(docs) {
        for target in links(&read(&page)) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let file = if path.is_empty() { page.clone() } else { page.parent().unwrap().join(path) };
            let name = page.strip_prefix(root()).unwrap().display();
            if !file.exists() {
                broken.push(format!("{name}: {target}: no such file"));
            } else if !anchor.is_empty()
                && file.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&file)).iter().any(|a| a == anchor)
            {
                broken.push(format!("{name}: {target}: no such heading"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_github() {
    let text = "# Proof: deploy/ on a real node\n```sh\n# not a heading\n```\n## `run` flags\n## Scale\n### Scale\n";
    assert_eq!(anchors(text), ["proof-deploy-on-a-real-node", "run-flags", "scale", "scale-1"]);
}
