// SPDX-License-Identifier: GPL-2.0

//! hello: a Rust kernel module.
//!
//! It keeps a few numbers in a kernel vector, reports their sum when it is
//! loaded and unloaded, and carries its KUnit tests with it: they run when
//! the module is loaded into a kernel with CONFIG_KUNIT.

use kernel::prelude::*;

module! {
    type: Hello,
    name: "hello",
    authors: ["rko"],
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
        let sum = checked_sum(&numbers).ok_or(EOVERFLOW)?;
        pr_info!("loaded, sum {}\n", sum);
        Ok(Hello { numbers })
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        pr_info!("unloaded, numbers {:?}\n", self.numbers);
    }
}

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
