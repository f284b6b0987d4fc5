//! Finds the Python that has the official SDKs, for the conformance tests of every cloud.
//! The `offline` test binary includes it as `python`.

use std::path::PathBuf;

/// `NATGW_PYTHON`, else the venv scripts/setup.sh makes (`$XDG_CACHE_HOME`, by default
/// `~/.cache`, then `natgw-operator/venv`) when it exists, else `python3`.
pub fn interpreter() -> PathBuf {
    if let Some(p) = std::env::var_os("NATGW_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    let venv = cache.map(|c| c.join("natgw-operator/venv/bin/python"));
    venv.filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("python3"))
}

/// A script in tests/conformance.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance").join(name)
}

/// Fails loudly when `script` failed, saying so when the scripts found no `sdks` (they exit 3
/// then); returns its stderr.
pub fn assert_ran(output: &std::process::Output, sdks: &str, script: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.code() != Some(3),
        "the {sdks} Python SDKs are not installed for {}: {stderr}",
        interpreter().display()
    );
    assert!(output.status.success(), "{script} failed: {stderr}");
    stderr
}
