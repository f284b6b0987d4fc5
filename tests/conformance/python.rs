//! Finds the Python that has the official SDKs, for the conformance tests of every cloud.
//! Include with `#[path = "conformance/python.rs"] mod python;`.

use std::path::PathBuf;

/// `NATGW_PYTHON`, else the project venv (`~/.cache/natgw-operator/venv`) when it exists, else
/// `python3`.
pub fn interpreter() -> PathBuf {
    if let Some(p) = std::env::var_os("NATGW_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/natgw-operator/venv/bin/python"));
    venv.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("python3"))
}

/// A script in tests/conformance.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance").join(name)
}
