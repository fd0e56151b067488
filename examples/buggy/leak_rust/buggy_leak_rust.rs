// SPDX-License-Identifier: GPL-2.0

//! Deliberately buggy: allocates a box and forgets it, so kmemleak reports
//! the allocation as unreferenced after the next scan.

use kernel::prelude::*;

module! {
    type: BuggyLeakRust,
    name: "buggy_leak_rust",
    authors: ["rko"],
    description: "rko example: memory leak in Rust found by kmemleak",
    license: "GPL",
}

struct BuggyLeakRust;

#[inline(never)]
fn make_buffer() -> Result<()> {
    let buf = KBox::new([0u8; 128], GFP_KERNEL)?;
    core::mem::forget(buf); // BUG: never freed
    Ok(())
}

impl kernel::Module for BuggyLeakRust {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Four leaks, because a stale copy of the last pointer can survive
        // in freed stack memory that kmemleak still scans.
        for _ in 0..4 {
            make_buffer()?;
        }
        pr_info!("allocated four buffers\n");
        Ok(BuggyLeakRust)
    }
}
