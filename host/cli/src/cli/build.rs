//! `tandem build [DIR]`: compiles the agent crate in DIR into a component in the agents directory,
//! with its manifest beside it: what `just agents` does, for one crate. It installs nothing: when
//! no Rust toolchain for `wasm32-wasip1` is there, it says what is missing and the one command that
//! installs it. Cargo's own progress is shown as it builds.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::anyhow;
use clap::Args;
use tandem::ErrorKind;
use tandem::componentize::componentize;

use super::{Failure, write_if_changed};

const TARGET: &str = "wasm32-wasip1";

#[derive(Args)]
pub struct BuildArgs {
    /// The agent's directory: a Rust crate whose Cargo.toml builds a `cdylib` with tandem-sdk.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where the component (`<name>.wasm`) and its manifest (`<name>.toml`) go.
    #[command(flatten)]
    agents: super::AgentsDir,
}

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

fn failed(kind: ErrorKind, message: String) -> Failure {
    Failure::new(kind, anyhow!(message))
}

fn which(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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
    let install = if which("rustup") {
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
        let other = if dir.join("pyproject.toml").is_file() {
            " (a Python package: Python agents are not built yet)"
        } else if dir.join("package.json").is_file() {
            " (a JavaScript package: JavaScript agents are not built yet)"
        } else {
            ""
        };
        return Err(Failure::invalid_input(format!(
            "{}: no Cargo.toml, so not a Rust agent crate{other}",
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

pub fn build(args: BuildArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let krate = inspect(&args.dir)?;
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

    let out_dir = &args.agents.path;
    std::fs::create_dir_all(out_dir).map_err(|e| Failure::file(out_dir, e))?;
    let out = out_dir.join(format!("{}.wasm", krate.name));
    write_if_changed(&out, &component)?;
    let manifest = krate.dir.join(format!("{}.toml", krate.name));
    let copied = if manifest.is_file() {
        let text = std::fs::read(&manifest).map_err(|e| Failure::file(&manifest, e))?;
        write_if_changed(&out.with_extension("toml"), &text)?;
        format!(
            ", its manifest beside it ({})",
            out.with_extension("toml").display()
        )
    } else {
        String::new()
    };
    outln!(
        "built {} ({} KiB) in {:.1} s{copied}",
        out.display(),
        component.len().div_ceil(1024),
        started.elapsed().as_secs_f64()
    );
    outln!("next: tandem inspect {}", out.display());
    Ok(ExitCode::SUCCESS)
}
