//! Giving freed heap back to the operating system.
//!
//! Loading the node catalogue parses ComfyUI's `/object_info` (close to 1 MB of JSON for a
//! stock install, far more with custom nodes) into many small allocations, most of them
//! temporary. glibc's allocator keeps the freed pages of its arenas mapped, so an idle server
//! would carry that peak for its whole life (about 6 MiB of a stock catalogue's load).
//! [`release_free_heap`] hands free pages back; elsewhere it does nothing.

/// Returns the allocator's free pages to the OS (glibc's `malloc_trim(0)`); a no-op on other
/// platforms. Costs a walk over the heap: call it after a large transient allocation, not per
/// request.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` takes no pointers and only releases memory that is free;
        // glibc makes it thread-safe (it locks each arena).
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(released = released != 0, "returned free heap pages to the OS");
    }
}
