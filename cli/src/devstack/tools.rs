//! The pinned Python tools (moto server, cfn-lint) in `.local/venv`, installed on first
//! use and reused afterwards. Safe when several processes ask at once (file lock).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Paths of the project checkout the local stack works in.
#[derive(Debug, Clone)]
pub struct Project {
    /// The repository root (holds `template.yaml`).
    pub root: PathBuf,
}

impl Project {
    /// Finds the checkout: `KOBO_ROOT`, else the nearest ancestor of the current directory
    /// holding `template.yaml` and `cli/python`, else the one this binary was built from.
    pub fn locate() -> Result<Project> {
        if let Ok(root) = std::env::var("KOBO_ROOT") {
            return Ok(Project { root: PathBuf::from(root) });
        }
        let is_root = |p: &Path| p.join("template.yaml").is_file() && p.join("cli/python").is_dir();
        if let Ok(cwd) = std::env::current_dir() {
            if let Some(found) = cwd.ancestors().find(|p| is_root(p)) {
                return Ok(Project { root: found.to_path_buf() });
            }
        }
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if is_root(&built) {
            return Ok(Project { root: built.canonicalize().unwrap_or(built) });
        }
        bail!("cannot find the kobo checkout: run from inside it or set KOBO_ROOT")
    }

    /// `.local/`, created if needed.
    pub fn local_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join(".local");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// `template.yaml`.
    pub fn template(&self) -> PathBuf {
        self.root.join("template.yaml")
    }

    /// The moto launcher script.
    pub fn moto_script(&self) -> PathBuf {
        self.root.join("cli/python/moto_serial.py")
    }

    /// The virtualenv's bin directory, installing the pinned tools if they are missing or
    /// the requirements changed.
    pub fn ensure_tools(&self) -> Result<PathBuf> {
        let local = self.local_dir()?;
        let venv = local.join("venv");
        let bin = venv.join("bin");
        let requirements = self.root.join("cli/python/requirements.txt");
        let wanted =
            fs::read_to_string(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
        let marker = venv.join(".kobo-requirements");
        let lock = File::create(local.join("venv.lock")).context("creating .local/venv.lock")?;
        lock.lock().context("locking .local/venv.lock")?;
        if fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && bin.join("python").exists() {
            return Ok(bin);
        }
        eprintln!("kobo: installing pinned tools into {} (first run only)...", venv.display());
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(&python).args(["-m", "venv", "--clear"]).arg(&venv), "creating the virtualenv")?;
        run(
            Command::new(bin.join("python"))
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
            "installing cli/python/requirements.txt",
        )?;
        fs::write(&marker, wanted).context("writing the requirements marker")?;
        Ok(bin)
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{what} failed ({status}); see the output above");
    }
    Ok(())
}
