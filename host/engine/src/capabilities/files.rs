//! `wasi:filesystem/types` as granted to agents: wasmtime-wasi's implementation with the host's own
//! bounds in front of it ([`FilesCtx`], the capability's state in each instance):
//!
//! - a guest holds at most `limits.max-open-files` files and directories it opened at once, and the
//!   whole process at most [`host_budget`] of them: one more is a `memory-limit` trap that names
//!   the limit;
//! - an instance that ends a call with files still open is retired, not reused (see
//!   [`FilesCtx::holds_files`]), so leaked descriptors never pile up in warm instances;
//! - a symbolic link whose target would resolve outside the granted directory it is made in is
//!   refused with `not-permitted`.
//!
//! Every other function is wasmtime-wasi's own, unchanged.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{FsError, FsResult};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use crate::sandbox::StoreData;
use crate::trap::LimitExceeded;

/// Files and directories a guest opened that are open now, across the whole process.
static OPEN_IN_PROCESS: AtomicUsize = AtomicUsize::new(0);

/// How many files guests may hold open at once across the process: a quarter of its descriptor
/// limit (read the first time a guest opens a file), at least 64, so that connections, the state
/// store and the audit log always have descriptors left.
pub fn host_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit with a valid pointer to a local struct.
        let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        let descriptors = if known { limit.rlim_cur } else { 1024 };
        usize::try_from(descriptors / 4)
            .unwrap_or(usize::MAX)
            .max(64)
    })
}

/// The files capability's state in one instance.
#[derive(Debug)]
pub struct FilesCtx {
    /// The most files the guest may hold open at once (`limits.max-open-files`).
    max_open: usize,
    /// The table handles of the files and directories it opened and has not closed.
    open: HashSet<u32>,
    /// The granted directories on the host, for the symbolic-link check.
    roots: Vec<PathBuf>,
}

impl FilesCtx {
    /// Bounds for an instance: at most `max_open` files open, under the granted `roots`.
    pub fn new(max_open: usize, roots: Vec<PathBuf>) -> FilesCtx {
        FilesCtx {
            max_open,
            open: HashSet::new(),
            roots,
        }
    }

    /// Whether the guest holds files it opened: an instance that does after a call is retired.
    pub fn holds_files(&self) -> bool {
        !self.open.is_empty()
    }
}

impl Drop for FilesCtx {
    fn drop(&mut self) {
        // The instance is gone and its files with it.
        OPEN_IN_PROCESS.fetch_sub(self.open.len(), Ordering::AcqRel);
    }
}

/// The capability's view of an instance's store: wasmtime-wasi's filesystem and the bounds.
pub struct Files<'a> {
    fs: WasiFilesystemCtxView<'a>,
    ctx: &'a mut FilesCtx,
}

struct HasFiles;

impl HasData for HasFiles {
    type Data<'a> = Files<'a>;
}

impl StoreData {
    fn files(&mut self) -> Files<'_> {
        Files {
            fs: WasiFilesystemCtxView {
                ctx: self.wasi.filesystem(),
                table: &mut self.table,
            },
            ctx: &mut self.files,
        }
    }
}

/// Adds `wasi:filesystem/types` with the bounds to the linker (`preopens` is wasmtime-wasi's).
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    types::add_to_linker::<StoreData, HasFiles>(linker, StoreData::files)
}

impl types::Host for Files<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl HostDescriptor for Files<'_> {
    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        let open = self.ctx.open.len();
        if open >= self.ctx.max_open {
            return Err(FsError::trap(LimitExceeded {
                what: "open files (`limits.max-open-files`)",
                requested: open + 1,
                limit: self.ctx.max_open,
            }));
        }
        let budget = host_budget();
        let in_process = OPEN_IN_PROCESS.fetch_add(1, Ordering::AcqRel) + 1;
        if in_process > budget {
            OPEN_IN_PROCESS.fetch_sub(1, Ordering::AcqRel);
            return Err(FsError::trap(LimitExceeded {
                what: "the files all guests of this host hold open",
                requested: in_process,
                limit: budget,
            }));
        }
        let opened =
            HostDescriptor::open_at(&mut self.fs, fd, path_flags, path, oflags, flags).await;
        match &opened {
            Ok(file) => {
                self.ctx.open.insert(file.rep());
            }
            Err(_) => {
                OPEN_IN_PROCESS.fetch_sub(1, Ordering::AcqRel);
            }
        }
        opened
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        if self.ctx.open.remove(&fd.rep()) {
            OPEN_IN_PROCESS.fetch_sub(1, Ordering::AcqRel);
        }
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        let dir = match self.fs.table.get(&fd)? {
            Descriptor::Dir(dir) => Some(dir_path(&dir.dir)),
            Descriptor::File(_) => None,
        };
        if !stays_inside(
            &self.ctx.roots,
            dir.flatten().as_deref(),
            &dest_path,
            &src_path,
        ) {
            return Err(ErrorCode::NotPermitted.into());
        }
        HostDescriptor::symlink_at(&mut self.fs, fd, src_path, dest_path).await
    }

    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.fs, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.fs, fd).await
    }

    async fn get_flags(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.fs, fd).await
    }

    async fn get_type(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorType> {
        HostDescriptor::get_type(&mut self.fs, fd).await
    }

    async fn set_size(
        &mut self,
        fd: Resource<types::Descriptor>,
        size: types::Filesize,
    ) -> FsResult<()> {
        HostDescriptor::set_size(&mut self.fs, fd, size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times(&mut self.fs, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.fs, fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        HostDescriptor::write(&mut self.fs, fd, buf, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        HostDescriptor::read_directory(&mut self.fs, fd).await
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.fs, fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        HostDescriptor::create_directory_at(&mut self.fs, fd, path).await
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat(&mut self.fs, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat_at(&mut self.fs, fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times_at(&mut self.fs, fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,

        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        HostDescriptor::link_at(
            &mut self.fs,
            fd,
            old_path_flags,
            old_path,
            new_descriptor,
            new_path,
        )
        .await
    }

    async fn readlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<String> {
        HostDescriptor::readlink_at(&mut self.fs, fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        HostDescriptor::remove_directory_at(&mut self.fs, fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        HostDescriptor::rename_at(&mut self.fs, fd, old_path, new_fd, new_path).await
    }

    async fn unlink_file_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        HostDescriptor::unlink_file_at(&mut self.fs, fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.fs, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        HostDescriptor::write_via_stream(&mut self.fs, fd, offset)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        HostDescriptor::append_via_stream(&mut self.fs, fd)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.fs, a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.fs, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash_at(&mut self.fs, fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for Files<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.fs, stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}

/// Where a directory descriptor is on the host (Linux: from `/proc/self/fd`).
fn dir_path(dir: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()
}

/// Whether a link at `link` (relative to the directory `dir`) to `target` resolves, by its
/// components, inside the granted root that holds `dir`. Without `dir`'s location, only targets
/// with no `..` and no root pass.
fn stays_inside(roots: &[PathBuf], dir: Option<&Path>, link: &str, target: &str) -> bool {
    let target_path = Path::new(target);
    if target_path.has_root() {
        return false;
    }
    let Some(dir) = dir else {
        return !target_path
            .components()
            .any(|c| matches!(c, Component::ParentDir));
    };
    let Some(root) = roots
        .iter()
        .filter_map(|root| root.canonicalize().ok())
        .find(|root| dir.starts_with(root))
    else {
        return false;
    };
    let parent = Path::new(link).parent().unwrap_or(Path::new(""));
    let mut resolved = dir.to_path_buf();
    for component in parent.components().chain(target_path.components()) {
        match component {
            Component::Normal(part) => resolved.push(part),
            Component::ParentDir => {
                if !resolved.pop() || !resolved.starts_with(&root) {
                    return false;
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    resolved.starts_with(&root)
}

#[cfg(test)]
mod tests {
    use super::stays_inside;
    use std::path::{Path, PathBuf};

    #[test]
    fn links_that_climb_out_of_their_grant_are_refused() {
        let root = std::env::temp_dir().canonicalize().unwrap();
        let sub = root.join("sub");
        let roots = [root.clone()];
        let inside = |dir: &Path, link, target| stays_inside(&roots, Some(dir), link, target);
        assert!(inside(&root, "l", "file"));
        assert!(inside(&sub, "l", "../file"), "up to the root, not past it");
        assert!(inside(&sub, "a/l", "../../x"));
        assert!(!inside(&root, "l", "../etc/passwd"));
        assert!(!inside(&sub, "l", "../../etc"));
        assert!(!inside(&root, "l", "/etc/passwd"));
        assert!(
            !inside(&PathBuf::from("/elsewhere"), "l", "x"),
            "not under a grant"
        );
        assert!(stays_inside(&roots, None, "l", "a/b"));
        assert!(!stays_inside(&roots, None, "l", "../a"));
    }
}
