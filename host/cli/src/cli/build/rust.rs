//! The Rust route of `tandem build`: the crate's core module compiled for `wasm32-wasip1` (rustup's
//! target, or Debian's Rust with `-Zbuild-std`, as `agents-guest/build.sh` does), then made a
//! component with the WASI adapter.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tandem::ErrorKind;
use tandem::componentize::componentize;

use super::{Built, failed, runs};
use crate::cli::Failure;

const TARGET: &str = "wasm32-wasip1";

/// The crate to build, as `cargo metadata` describes it.
struct Crate {
    name: String,
    manifest: PathBuf,
    dir: PathBuf,
    workspace_root: PathBuf,
    target_dir: PathBuf,
}

/// How guests are compiled on this machine (see shared/GUEST-TOOLCHAIN.md and agents-guest/build.sh).
#[derive(Clone, Copy)]
enum Route {
    /// rustup's `wasm32-wasip1` target.
    Rustup,
    /// Debian's Rust with `-Zbuild-std` and wasi-libc.
    Debian,
}

fn debian_packages_installed() -> bool {
    ["rustc-web", "cargo-web", "rust-web-src", "wasi-libc", "lld"]
        .iter()
        .all(|package| {
            Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ok installed"))
        })
}

/// The route this machine has, or what to install.
fn route() -> Result<Route, Failure> {
    let rustup_target = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == TARGET)
        });
    if rustup_target {
        return Ok(Route::Rustup);
    }
    if debian_packages_installed() {
        return Ok(Route::Debian);
    }
    let install = if runs(Path::new("rustup")) {
        format!("rustup target add {TARGET}")
    } else {
        "sudo apt-get install rustc-web cargo-web rust-web-src wasi-libc lld".to_string()
    };
    Err(failed(
        ErrorKind::Unavailable,
        format!("no Rust toolchain for {TARGET} on this machine; install one with: {install}"),
    ))
}

/// The crate in `dir`, which must build a `cdylib`.
fn inspect(dir: &Path) -> Result<Crate, Failure> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Failure::invalid_input(format!(
            "{}: no Cargo.toml, so not a Rust agent crate",
            dir.display()
        )));
    }
    let manifest = manifest
        .canonicalize()
        .map_err(|e| Failure::file(&manifest, e))?;
    let out = Command::new("cargo")
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| failed(ErrorKind::Unavailable, format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        return Err(Failure::invalid_input(format!(
            "cargo metadata refused {}: {}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| failed(ErrorKind::Internal, format!("cargo metadata's output: {e}")))?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .ok_or_else(|| {
            Failure::invalid_input(format!("{} is not a package", manifest.display()))
        })?;
    let name = package["name"].as_str().unwrap_or_default().to_string();
    let cdylib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            t["crate_types"]
                .as_array()
                .is_some_and(|types| types.iter().any(|c| c == "cdylib"))
        });
    if !cdylib {
        return Err(Failure::invalid_input(format!(
            "`{name}` does not build a `cdylib`: add `[lib] crate-type = [\"cdylib\"]` to {}",
            manifest.display()
        )));
    }
    let path = |key: &str| PathBuf::from(metadata[key].as_str().unwrap_or_default());
    Ok(Crate {
        dir: manifest.parent().unwrap_or(dir).to_path_buf(),
        name,
        manifest,
        workspace_root: path("workspace_root"),
        target_dir: path("target_directory"),
    })
}

/// Compiles the crate's core module; its path.
fn compile(krate: &Crate, route: Route) -> Result<PathBuf, Failure> {
    // Tandem's workspace has a size-optimised `guest` profile with `panic = "abort"`; elsewhere,
    // release.
    let root_manifest =
        std::fs::read_to_string(krate.workspace_root.join("Cargo.toml")).unwrap_or_default();
    let profile = if root_manifest.contains("[profile.guest]") {
        "guest"
    } else {
        "release"
    };
    let target_dir = krate.target_dir.join("guest");
    let mut cargo = match route {
        Route::Rustup => Command::new("cargo"),
        Route::Debian => {
            let mut cargo = Command::new("/usr/bin/cargo");
            cargo
                .env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTC", "/usr/bin/rustc")
                .env(
                    "RUSTFLAGS",
                    "-C linker=wasm-ld -C link-self-contained=no -L native=/usr/lib/wasm32-wasi",
                )
                .arg("-Zbuild-std=std,panic_abort");
            cargo
        }
    };
    cargo
        .args([
            "build",
            "--profile",
            profile,
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(&krate.manifest)
        .stdin(Stdio::null());
    let status = cargo
        .status()
        .map_err(|e| failed(ErrorKind::Unavailable, format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(Failure::invalid_input(format!(
            "cargo could not build `{}` for {TARGET} (its errors are above)",
            krate.name
        )));
    }
    Ok(target_dir
        .join(TARGET)
        .join(profile)
        .join(format!("{}.wasm", krate.name.replace('-', "_"))))
}

/// Builds the crate in `dir` into a component.
pub fn build(dir: &Path) -> Result<Built, Failure> {
    let krate = inspect(dir)?;
    let route = route()?;
    let route_name = match route {
        Route::Rustup => "rustup's target",
        Route::Debian => "Debian's Rust with -Zbuild-std",
    };
    eprintln!("==> compiling `{}` for {TARGET} ({route_name})", krate.name);
    let module_path = compile(&krate, route)?;
    let module = std::fs::read(&module_path).map_err(|e| Failure::file(&module_path, e))?;
    eprintln!("==> making a component of {}", module_path.display());
    let component = componentize(&module)
        .map_err(|e| Failure::invalid_input(format!("{}: {e}", module_path.display())))?;
    Ok(Built {
        id: krate.name,
        dir: krate.dir,
        component,
    })
}
