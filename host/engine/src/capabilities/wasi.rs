//! The WASI 0.2 interfaces a guest can be granted, and no network: `wasi:sockets` is linked (the
//! components componentize-py and componentize-js make import it, whether or not they use it), but
//! every context is built with TCP, UDP and name lookups off and no address allowed, so each
//! `bind`, `connect` and lookup fails with `access-denied`. What each instance may actually touch
//! (directories, environment, stdio) is set by its grants in [`wasi_ctx`].

use std::sync::Arc;
use wasmtime::component::{HasData, Linker, ResourceTable};

use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiView};

use super::LogStream;
use crate::sandbox::{Grants, Stdio, StoreData};

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds every WASI 0.2 interface to the linker (`wasi:sockets` denying every use, see [`wasi_ctx`]);
/// `wasi:filesystem/types` with the host's bounds (`super::files`).
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
    sockets::tcp_create_socket::add_to_linker::<StoreData, WasiSockets>(l, StoreData::sockets)?;
    sockets::tcp::add_to_linker::<StoreData, WasiSockets>(l, StoreData::sockets)?;
    sockets::udp_create_socket::add_to_linker::<StoreData, WasiSockets>(l, StoreData::sockets)?;
    sockets::udp::add_to_linker::<StoreData, WasiSockets>(l, StoreData::sockets)?;
    sockets::instance_network::add_to_linker::<StoreData, WasiSockets>(l, StoreData::sockets)?;
    sockets::network::add_to_linker::<StoreData, WasiSockets>(
        l,
        &Default::default(),
        StoreData::sockets,
    )?;
    sockets::ip_name_lookup::add_to_linker::<StoreData, WasiSockets>(l, StoreData::sockets)?;
    Ok(())
}

/// The WASI context for one instance: exactly the granted dirs and env, nothing else.
pub fn wasi_ctx(grants: &Grants, agent: &Arc<str>) -> std::io::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    if grants.stdio == Stdio::Log {
        builder.stdout(LogStream::new(agent.clone(), "stdout"));
        builder.stderr(LogStream::new(agent.clone(), "stderr"));
    }
    for dir in &grants.dirs {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        builder
            .preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|e| {
                std::io::Error::other(format!("cannot preopen {}: {e}", dir.host.display()))
            })?;
    }
    builder.envs(&grants.env);
    // No address passes the (default) socket address check either.
    builder
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    Ok(builder.build())
}
