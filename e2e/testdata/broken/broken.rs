// SPDX-License-Identifier: GPL-2.0

//! A module that does not compile: rko build must show file:line.

use kernel::prelude::*;

module! {
    type: Broken,
    name: "broken",
    authors: ["rko"],
    description: "rko e2e: a compile error",
    license: "GPL",
}

struct Broken;

impl kernel::Module for Broken {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let n: u32 = undefined_value;
        pr_info!("{}\n", n);
        Ok(Broken)
    }
}
