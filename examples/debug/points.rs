// SPDX-License-Identifier: GPL-2.0

//! points: a Rust module to try rko debug on (docs/debug.md).
//!
//! Its init walks a few points through `scaled`, a function kept out of
//! line so that a breakpoint on it stops there on every profile, with a
//! struct behind a reference and a local worth printing.

use kernel::prelude::*;

module! {
    type: Points,
    name: "points",
    authors: ["rko"],
    description: "points: a Rust module to try rko debug on",
    license: "GPL",
}

/// A point on a grid.
struct Point {
    x: i32,
    y: i32,
}

/// `p` scaled by `k` and folded into one number; `None` on overflow.
#[inline(never)]
fn scaled(p: &Point, k: i32) -> Option<i32> {
    let mut folded = p.x.checked_mul(k)?.checked_add(p.y)?;
    // Kept in memory, so that a debugger reads the local on every
    // architecture (riscv64's rustc keeps no location for it otherwise).
    core::hint::black_box(&mut folded);
    Some(folded)
}

struct Points {
    total: i32,
}

impl kernel::Module for Points {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut total = 0i32;
        for (i, p) in [Point { x: 3, y: 4 }, Point { x: -2, y: 10 }].iter().enumerate() {
            let k = core::hint::black_box(i as i32 + 2);
            total = total.checked_add(scaled(p, k).ok_or(EINVAL)?).ok_or(EINVAL)?;
        }
        pr_info!("points: total {}\n", total);
        Ok(Points { total })
    }
}

impl Drop for Points {
    fn drop(&mut self) {
        pr_info!("points: unloaded, total {}\n", self.total);
    }
}
