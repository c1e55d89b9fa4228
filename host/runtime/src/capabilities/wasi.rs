//! The WASI 0.2 interfaces a guest can be granted, linked without any network: `wasi:sockets` is not
//! in the linker at all, so a component that imports it fails to load rather than being handed a
//! network it was never meant to have. What each instance may actually touch (directories,
//! environment, stdio) is set by its grants in [`crate::sandbox::Grants::wasi_ctx`].

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

use crate::sandbox::StoreData;

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds every WASI 0.2 interface but `wasi:sockets` to the linker; `wasi:filesystem/types` with the
/// host's bounds (`super::files`).
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    use wasmtime_wasi_io::bindings::wasi::io;
    let l = linker;
    io::error::add_to_linker::<StoreData, HasIo>(l, |t| t.ctx().table)?;
    io::poll::add_to_linker::<StoreData, HasIo>(l, |t| t.ctx().table)?;
    io::streams::add_to_linker::<StoreData, HasIo>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<StoreData, WasiClocks>(l, StoreData::clocks)?;
    clocks::monotonic_clock::add_to_linker::<StoreData, WasiClocks>(l, StoreData::clocks)?;
    super::files::add_to_linker(l)?;
    filesystem::preopens::add_to_linker::<StoreData, WasiFilesystem>(l, StoreData::filesystem)?;
    random::random::add_to_linker::<StoreData, WasiRandom>(l, StoreData::random)?;
    random::insecure::add_to_linker::<StoreData, WasiRandom>(l, StoreData::random)?;
    random::insecure_seed::add_to_linker::<StoreData, WasiRandom>(l, StoreData::random)?;
    cli::exit::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::environment::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::stdin::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::stdout::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::stderr::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::terminal_input::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::terminal_output::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::terminal_stdin::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::terminal_stdout::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    cli::terminal_stderr::add_to_linker::<StoreData, WasiCli>(l, StoreData::cli)?;
    Ok(())
}
