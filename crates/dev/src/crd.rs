//! `cargo run -- crd`: the generated CRD, written to every place the repository keeps it.

use std::path::Path;

/// Writes [`natgw_operator::crd_yaml`] to each of [`natgw_operator::CRD_FILES`].
pub fn write() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let yaml = natgw_operator::crd_yaml();
    for file in natgw_operator::CRD_FILES {
        std::fs::write(root.join(file), &yaml).map_err(|e| format!("{file}: {e}"))?;
        println!("wrote {file}");
    }
    Ok(())
}
