//! A module that breaks every rko lint rule exactly once (missing-spdx:
//! this file has no SPDX line). Used by rko's CLI test; do not fix it.

use kernel::prelude::*;
use kernel::sync::SpinLock;
use kernel::time::delay::fsleep;
use kernel::time::Delta;

module! {
    type: LintBad,
    name: "lint_bad",
    authors: ["rko"],
    description: "Breaks every rko lint rule once",
    license: "GPL",
}

struct LintBad {
    counter: SpinLock<u32>,
}

/// Reads a counter through a raw pointer.
pub unsafe fn read_raw(p: *const u32) -> u32 {
    // SAFETY: the caller promises `p` is valid (see the missing # Safety doc).
    unsafe { *p }
}

struct Token(*mut u8);

unsafe impl Send for Token {}

impl LintBad {
    fn bump(&self) {
        let mut guard = self.counter.lock();
        *guard += 1;
        fsleep(Delta::from_millis(1));
    }

    fn jiffies() -> u64 {
        let j = unsafe { kernel::bindings::jiffies };
        let v: Option<u64> = Some(j);
        v.unwrap()
    }

    fn format(&self) -> usize {
        std::mem::size_of::<u32>()
    }
}

impl kernel::Module for LintBad {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Strings, comments and doc tests never count: "x.unwrap()", panic!("no")
        Ok(LintBad { counter: SpinLock::new(0, c_str!("lint_bad"), kernel::static_lock_class!()) })
    }
}
