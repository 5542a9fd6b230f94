//! The global allocator of this test: the system's, recording each thread's
//! largest single allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// The largest single allocation this thread made since it was reset.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, recording each thread's largest allocation so
/// that a test can see what a decoder allocated (the decoders run on the
/// calling thread).
struct Recording;

fn record(size: usize) {
    // `try_with`: nothing to record while the thread is being torn down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded to `System` unchanged.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

/// Runs `f`, returning its result, the time it took and the largest single
/// allocation it made.
pub(crate) fn measured<T>(f: impl FnOnce() -> T) -> (T, Duration, usize) {
    LARGEST.with(|l| l.set(0));
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    (out, took, LARGEST.with(Cell::get))
}
