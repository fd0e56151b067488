// SPDX-License-Identifier: GPL-2.0

//! modern: a module written for 7.x alone. It uses kernel::miscdevice
//! and kernel::InPlaceModule, which 6.12's kernel crate does not have:
//! built against 6.12 it fails, and rko's error names those items and the
//! kernels that have them (e2e TestKernelVersions).

use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

module! {
    type: Modern,
    name: "modern",
    authors: ["rko"],
    description: "A module for 7.x only",
    license: "GPL",
}

struct Opened;

#[vtable]
impl MiscDevice for Opened {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(Opened, GFP_KERNEL)?)
    }
}

#[pin_data]
struct Modern {
    #[pin]
    _dev: MiscDeviceRegistration<Opened>,
}

impl kernel::InPlaceModule for Modern {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _dev <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: kernel::c_str!("rko_modern"),
            }),
        })
    }
}
