// SPDX-License-Identifier: GPL-2.0

//! Deliberately buggy: indexes an array out of bounds, so the kernel's Rust
//! panic handler prints `rust_kernel: panicked at ...` and BUG()s.

use kernel::prelude::*;

module! {
    type: BuggyOob,
    name: "buggy_oob",
    authors: ["rko"],
    description: "rko example: Rust panic on an out-of-bounds index",
    license: "GPL",
}

struct BuggyOob;

#[inline(never)]
fn pick(slots: &[u32; 3], index: usize) -> u32 {
    slots[index] // BUG: index 5 of 3
}

impl kernel::Module for BuggyOob {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let slots = [1u32, 2, 3];
        let index = core::hint::black_box(5usize);
        pr_info!("picked {}\n", pick(&slots, index));
        Ok(BuggyOob)
    }
}
