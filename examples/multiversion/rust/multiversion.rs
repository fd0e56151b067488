// SPDX-License-Identifier: GPL-2.0

//! multiversion: one Rust source that builds and runs on Linux 6.12, 7.2
//! and 7.3, although the kernel crate differs between them.
//!
//! rko builds a module with cfgs that describe the kernel it builds
//! against (docs/kernels.md#one-module-source-for-several-kernels):
//! `rko_kernel_7_3` and `rko_kernel_ge_6_13` for the version,
//! `rko_has_kernel_miscdevice` when `kernel::miscdevice` exists (not in
//! 6.12), `rko_has_module_authors` when `module!` takes `authors:` (6.12
//! takes one `author:`), and `rko_has_kunit_tests` when `#[kunit_tests]`
//! exists (not in 6.12). On a kernel with `kernel::miscdevice` the module
//! registers the misc device `rko_multiversion`; without it, it only says
//! so. Its test (tests/smoke.sh) checks each case against the running
//! kernel's version.

use kernel::prelude::*;

#[cfg(any(rko_has_module_authors, not(rko)))]
module! {
    type: Multiversion,
    name: "multiversion",
    authors: ["rko"],
    description: "One Rust source for Linux 6.12, 7.2 and 7.3",
    license: "GPL",
}

#[cfg(all(rko, not(rko_has_module_authors)))]
module! {
    type: Multiversion,
    name: "multiversion",
    author: "rko",
    description: "One Rust source for Linux 6.12, 7.2 and 7.3",
    license: "GPL",
}

/// The kernel series the module was built for, from rko's version cfgs.
const SERIES: &str = if cfg!(rko_kernel_7_3) {
    "7.3"
} else if cfg!(rko_kernel_7_2) {
    "7.2"
} else if cfg!(rko_kernel_6_12) {
    "6.12"
} else {
    "another"
};

/// Whether the module may count on a newer kernel's API (6.13 and later).
const MODERN: bool = cfg!(any(rko_kernel_ge_6_13, not(rko)));

#[cfg(rko_has_kernel_miscdevice)]
mod misc {
    use kernel::{
        fs::File,
        miscdevice::{MiscDevice, MiscDeviceRegistration},
        prelude::*,
    };

    /// An open file of the misc device: nothing to keep.
    pub(crate) struct Opened;

    #[vtable]
    impl MiscDevice for Opened {
        type Ptr = KBox<Self>;

        fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
            Ok(KBox::new(Opened, GFP_KERNEL)?)
        }
    }
}

/// With `kernel::miscdevice`: the module holds the device's registration.
#[cfg(rko_has_kernel_miscdevice)]
#[pin_data]
struct Multiversion {
    #[pin]
    _dev: kernel::miscdevice::MiscDeviceRegistration<misc::Opened>,
}

#[cfg(rko_has_kernel_miscdevice)]
impl kernel::InPlaceModule for Multiversion {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("built for {}, misc device rko_multiversion (modern: {})\n", SERIES, MODERN);
        let options = kernel::miscdevice::MiscDeviceOptions {
            name: kernel::c_str!("rko_multiversion"),
        };
        try_pin_init!(Self {
            _dev <- kernel::miscdevice::MiscDeviceRegistration::register(options),
        })
    }
}

/// Without it (6.12): a module with nothing to hold.
#[cfg(not(rko_has_kernel_miscdevice))]
struct Multiversion;

#[cfg(not(rko_has_kernel_miscdevice))]
impl kernel::Module for Multiversion {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("built for {}, no misc device (modern: {})\n", SERIES, MODERN);
        Ok(Multiversion)
    }
}

#[cfg(any(rko_has_kunit_tests, not(rko)))]
#[kunit_tests(multiversion)]
mod tests {
    use super::*;

    #[test]
    fn series_is_known() {
        assert_ne!(SERIES, "another");
    }
}
