//! Giving the allocator's free memory back to the system. Compiling a component peaks at tens to
//! hundreds of MiB that glibc's allocator keeps once freed; without this, a server that compiled
//! its agents itself holds several times the memory of one that mapped them from the cache.

/// Returns the free pages of the process's heaps to the system (glibc's `malloc_trim`; nothing on
/// other targets). Costs a few milliseconds with a large heap: call it after compiling, not per call.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only gives free heap pages back to the system; it touches no memory in
    // use.
    unsafe {
        libc::malloc_trim(0);
    }
}
