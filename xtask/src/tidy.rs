//! `cargo xtask tidy` and tidy-as-test: architecture invariants checked on the source tree
//! (the layering of the crates from `cargo metadata`, `//!` headers on every file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The library crates, bottom to top: each may depend only on crates before it.
pub const LAYERS: [&str; 4] = ["hep-data", "hep-sparse", "hep-models", "hep-metrics"];
/// Binaries: they may depend on any library, and nothing may depend on them.
pub const BINARIES: [&str; 2] = ["hep-cli", "xtask"];

/// Workspace members and the workspace members each depends on (any dependency kind).
pub fn workspace_graph() -> Result<BTreeMap<String, Vec<String>>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(crate::workspace_root())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let packages = v["packages"].as_array().context("no packages")?;
    let names: Vec<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    let mut graph = BTreeMap::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let deps = p["dependencies"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|d| d["name"].as_str())
                    .filter(|d| names.iter().any(|n| n == d))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        graph.insert(name, deps);
    }
    Ok(graph)
}

/// Violations of the layering rules in `graph`.
pub fn layering_violations(graph: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut bad = Vec::new();
    for (pkg, deps) in graph {
        let known = LAYERS.contains(&pkg.as_str()) || BINARIES.contains(&pkg.as_str());
        if !known {
            bad.push(format!(
                "{pkg} is not in the documented layering (ARCHITECTURE.md)"
            ));
            continue;
        }
        for dep in deps {
            if BINARIES.contains(&dep.as_str()) {
                bad.push(format!("{pkg} depends on the binary crate {dep}"));
            }
            let layer = |name: &str| LAYERS.iter().position(|l| *l == name);
            if let (Some(i), Some(j)) = (layer(pkg), layer(dep))
                && j >= i
            {
                bad.push(format!("{pkg} (layer {i}) depends on {dep} (layer {j})"));
            }
        }
    }
    bad
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target" && n != ".git") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source files that do not start with a `//!` line saying what lives there.
pub fn files_without_header() -> Vec<PathBuf> {
    let root = crate::workspace_root();
    let mut files = Vec::new();
    for d in ["crates", "xtask"] {
        rust_files(&root.join(d), &mut files);
    }
    files
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect()
}

/// Run every tidy check, failing with the list of problems.
pub fn run() -> Result<()> {
    let mut problems = layering_violations(&workspace_graph()?);
    problems.extend(
        files_without_header()
            .into_iter()
            .map(|f| format!("{} does not start with a //! line", f.display())),
    );
    if problems.is_empty() {
        println!("tidy: OK");
        Ok(())
    } else {
        bail!(
            "tidy found {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_respect_the_layering() {
        let graph = workspace_graph().unwrap();
        for l in LAYERS.iter().chain(&BINARIES) {
            assert!(graph.contains_key(*l), "{l} missing from the workspace");
        }
        let bad = layering_violations(&graph);
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn layering_check_catches_upward_edges() {
        let mut g = BTreeMap::new();
        g.insert("hep-data".to_string(), vec!["hep-models".to_string()]);
        g.insert("hep-sparse".to_string(), vec!["xtask".to_string()]);
        g.insert("hep-metrics".to_string(), vec!["hep-data".to_string()]);
        let bad = layering_violations(&g);
        assert_eq!(bad.len(), 2, "{bad:?}");
    }

    #[test]
    fn every_source_file_has_a_header() {
        let missing = files_without_header();
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
