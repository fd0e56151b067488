// SPDX-License-Identifier: GPL-2.0

//! hello: a Rust kernel module.
//!
//! It keeps a few numbers in a kernel vector, reports their sum when it is
//! loaded and unloaded, and carries its KUnit tests with it: they run when
//! the module is loaded into a kernel with CONFIG_KUNIT.

use kernel::prelude::*;

// One source for every kernel rko builds (6.12 to 7.3): rko tells the
// module what the kernel it builds against has, as cfgs
// (docs/kernels.md#one-module-source-for-several-kernels). A plain make
// sets none of them, and `not(rko)` then stands for the newest kernel.
#[cfg(any(rko_has_module_authors, not(rko)))]
module! {
    type: Hello,
    name: "hello",
    authors: ["rko"],
    description: "hello: a Rust kernel module",
    license: "GPL",
}

// Older kernels (6.12) take one author.
#[cfg(all(rko, not(rko_has_module_authors)))]
module! {
    type: Hello,
    name: "hello",
    author: "rko",
    description: "hello: a Rust kernel module",
    license: "GPL",
}

/// Adds up `numbers` without overflow: `None` if the sum does not fit.
fn checked_sum(numbers: &[i32]) -> Option<i32> {
    numbers.iter().try_fold(0i32, |acc, &n| acc.checked_add(n))
}

struct Hello {
    numbers: KVec<i32>,
}

impl kernel::Module for Hello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut numbers = KVec::new();
        for n in [72, 108, 200] {
            numbers.push(n, GFP_KERNEL)?;
        }
        let sum = checked_sum(&numbers).ok_or(ERANGE)?;
        pr_info!("loaded, sum {}\n", sum);
        Ok(Hello { numbers })
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        pr_info!("unloaded, numbers {:?}\n", self.numbers);
    }
}

// #[kunit_tests] is newer than 6.12: on older kernels the tests are left out.
#[cfg(any(rko_has_kunit_tests, not(rko)))]
#[kunit_tests(hello)]
mod tests {
    use super::*;

    #[test]
    fn sum_of_numbers() {
        assert_eq!(checked_sum(&[72, 108, 200]), Some(380));
    }

    #[test]
    fn sum_overflows() {
        assert_eq!(checked_sum(&[i32::MAX, 1]), None);
    }
}
