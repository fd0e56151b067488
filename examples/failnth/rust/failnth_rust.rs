// SPDX-License-Identifier: GPL-2.0

//! failnth_rust: the Rust twin of failnth_c, for rko test --fail-nth
//! (docs/fail-nth.md).
//!
//! Its init allocates a table, then a buffer, like the C twin; when the
//! buffer's allocation fails, `?` returns the error and the table, owned by
//! a local `KVec`, is dropped: there is no cleanup to forget.

use kernel::prelude::*;
use kernel::str::CString;

module! {
    type: FailnthRust,
    name: "failnth_rust",
    authors: ["rko"],
    description: "failnth_rust: every error path frees what it allocated",
    license: "GPL",
}

struct FailnthRust {
    _table: KVec<u32>,
    _buffer: CString,
}

impl kernel::Module for FailnthRust {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut table = KVec::with_capacity(16, GFP_KERNEL)?;
        for i in 0..16u32 {
            table.push(i * i, GFP_KERNEL)?;
        }
        let sum: u32 = table.iter().sum();
        let buffer = CString::try_from_fmt(fmt!("sum of squares below 16: {}", sum))?;
        pr_info!("failnth_rust: {}\n", buffer.to_str()?);
        Ok(FailnthRust {
            _table: table,
            _buffer: buffer,
        })
    }
}
