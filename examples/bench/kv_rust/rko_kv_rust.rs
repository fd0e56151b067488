// SPDX-License-Identifier: GPL-2.0

//! rko bench twin (Rust): a small key-value store behind a misc character
//! device, through the kernel crate's safe abstractions only.
//!
//! Each open file has its own store of [`KV_SLOTS`] values of up to
//! [`KV_VALUE_MAX`] bytes. `ioctl(KV_SELECT, &key)` chooses the slot, `write()`
//! replaces its value, `read()` returns it. The C twin is `../kv_c/rko_kv_c.c`;
//! both must behave identically.

use kernel::{
    fs::{File, Kiocb},
    ioctl::_IOW,
    iov::{IovIterDest, IovIterSource},
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::Mutex,
    uaccess::{UserPtr, UserSlice},
};

const KV_SLOTS: usize = 64;
const KV_VALUE_MAX: usize = 64;
const KV_SELECT: u32 = _IOW::<u32>('k' as u32, 1);

module! {
    type: KvModule,
    name: "rko_kv_rust",
    authors: ["rko"],
    description: "rko bench: key-value misc device (Rust twin)",
    license: "GPL",
}

#[pin_data]
struct KvModule {
    #[pin]
    _miscdev: MiscDeviceRegistration<KvStore>,
}

impl kernel::InPlaceModule for KvModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"rko_kv_rust",
            }),
        })
    }
}

#[derive(Zeroable)]
struct Slot {
    len: usize,
    val: [u8; KV_VALUE_MAX],
}

#[derive(Zeroable)]
struct Inner {
    sel: usize,
    slots: [Slot; KV_SLOTS],
}

#[pin_data]
struct KvStore {
    #[pin]
    inner: Mutex<Inner>,
}

#[vtable]
impl MiscDevice for KvStore {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        // Zeroed in place, like kzalloc: the 4.6 KiB store never sits on the stack.
        KBox::try_pin_init(
            try_pin_init!(KvStore {
                inner <- new_mutex!(pin_init::zeroed::<Inner>()),
            }),
            GFP_KERNEL,
        )
    }

    fn read_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let me = kiocb.file();
        let inner = me.inner.lock();
        let slot = &inner.slots[inner.sel];
        Ok(iov.copy_to_iter(&slot.val[..slot.len]))
    }

    fn write_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        if iov.len() > KV_VALUE_MAX {
            return Err(EINVAL);
        }
        let me = kiocb.file();
        let mut inner = me.inner.lock();
        let sel = inner.sel;
        let slot = &mut inner.slots[sel];
        let n = iov.copy_from_iter(&mut slot.val);
        slot.len = n;
        Ok(n)
    }

    fn ioctl(me: Pin<&KvStore>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            KV_SELECT => {
                let key = UserSlice::new(UserPtr::from_addr(arg), size_of::<u32>())
                    .reader()
                    .read::<u32>()? as usize;
                if key >= KV_SLOTS {
                    return Err(EINVAL);
                }
                me.inner.lock().sel = key;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}
