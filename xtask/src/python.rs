//! Managed Python virtual environments under `target/`, created from pinned requirement files.
//!
//! A venv is reused as long as the requirement file it was built from is unchanged
//! (its content is stored in a stamp file inside the venv); otherwise it is rebuilt.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// A pinned Python virtual environment living at `target/xtask-venv-<name>`.
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// Create (or reuse) the venv `name` from `xtask/python/<requirements>`.
    pub fn ensure(name: &str, requirements: &str) -> Result<Self> {
        let root = crate::workspace_root();
        let req_path = root.join("xtask/python").join(requirements);
        let req = std::fs::read_to_string(&req_path)
            .with_context(|| format!("reading {}", req_path.display()))?;
        let dir = root.join("target").join(format!("xtask-venv-{name}"));
        let stamp = dir.join("xtask-requirements.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(req.as_str()) {
            return Ok(Self { dir });
        }
        eprintln!(
            "xtask: creating Python venv {} from {}",
            dir.display(),
            req_path.display()
        );
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let python = std::env::var("XTASK_PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(&python).arg("-m").arg("venv").arg(&dir))
            .with_context(|| format!("{python} -m venv (is Python 3.11 with venv installed?)"))?;
        let venv = Self { dir };
        run(Command::new(venv.python())
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(&req_path))
        .context("pip install of the pinned requirements (PyPI must be reachable)")?;
        std::fs::write(&stamp, req)?;
        Ok(venv)
    }

    /// The venv's interpreter.
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python")
    }

    /// A command running `xtask/python/<script>` with the venv's interpreter.
    pub fn script(&self, script: &str) -> Command {
        let mut c = Command::new(self.python());
        c.arg(crate::workspace_root().join("xtask/python").join(script));
        c.env("PYTHONUNBUFFERED", "1");
        c
    }
}

/// Run a command to completion, failing with its exit status when it does not succeed.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("spawning {cmd:?}"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}

/// Run a command and return its standard output as text.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("spawning {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "command failed ({}): {cmd:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
