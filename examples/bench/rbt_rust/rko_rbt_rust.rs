// SPDX-License-Identifier: GPL-2.0

//! rko bench twin (Rust): red-black tree inserts, lookups and removals, timed
//! in the kernel, through the kernel crate's safe abstractions only.
//!
//! `ioctl(RBT_RUN, &run)` inserts `run.nkeys` distinct keys into a
//! [`RBTree`] (each node allocated by `try_create_and_insert`), looks every
//! key up, then removes every key, and reports the elapsed nanoseconds
//! (monotonic clock) and the sum of the values found. The C twin is
//! `../rbt_c/rko_rbt_c.c`; the user-space layout of `run` is
//! `{ u32 nkeys; u32 seed; u64 ns; u64 sum; }`.

use kernel::{
    fs::File,
    ioctl::_IOWR,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    rbtree::RBTree,
    time::{Instant, Monotonic},
    uaccess::{UserPtr, UserSlice},
};

/// Multiplying by an odd constant is a bijection on `u32`: keys are distinct.
const RBT_GOLDEN: u32 = 2654435761;
const RBT_MAX_KEYS: u32 = 1 << 20;
/// Size of the user-space `struct rbt_run`.
const RUN_SIZE: usize = 24;
const RBT_RUN: u32 = _IOWR::<[u8; RUN_SIZE]>('k' as u32, 2);

module! {
    type: RbtModule,
    name: "rko_rbt_rust",
    authors: ["rko"],
    description: "rko bench: rbtree inserts, lookups and removals (Rust twin)",
    license: "GPL",
}

#[pin_data]
struct RbtModule {
    #[pin]
    _miscdev: MiscDeviceRegistration<RbtDevice>,
}

impl kernel::InPlaceModule for RbtModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"rko_rbt_rust",
            }),
        })
    }
}

struct RbtDevice;

#[inline]
fn rbt_key(i: u32, seed: u32) -> u32 {
    i.wrapping_add(seed).wrapping_mul(RBT_GOLDEN)
}

/// Runs the workload and returns (elapsed nanoseconds, sum of values found).
fn run(nkeys: u32, seed: u32) -> Result<(i64, u64)> {
    let mut tree = RBTree::<u32, u64>::new();
    let start = Instant::<Monotonic>::now();
    for i in 0..nkeys {
        let key = rbt_key(i, seed);
        tree.try_create_and_insert(key, u64::from(key) * 3, GFP_KERNEL)?;
    }
    let mut sum = 0u64;
    for i in 0..nkeys {
        if let Some(v) = tree.get(&rbt_key(i, seed)) {
            sum += *v;
        }
    }
    for i in 0..nkeys {
        tree.remove(&rbt_key(i, seed));
    }
    Ok((start.elapsed().as_nanos(), sum))
}

#[vtable]
impl MiscDevice for RbtDevice {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        // A zero-sized box: no allocation.
        Ok(KBox::new(RbtDevice, GFP_KERNEL)?)
    }

    fn ioctl(_me: &RbtDevice, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        if cmd != RBT_RUN {
            return Err(ENOTTY);
        }
        let ptr = UserPtr::from_addr(arg);
        let (mut reader, mut writer) = UserSlice::new(ptr, RUN_SIZE).reader_writer();
        let nkeys = reader.read::<u32>()?;
        let seed = reader.read::<u32>()?;
        if nkeys > RBT_MAX_KEYS {
            return Err(EINVAL);
        }
        let (ns, sum) = run(nkeys, seed)?;
        // The writer starts at the beginning of `run`: rewrite the inputs, then the results.
        writer.write(&nkeys)?;
        writer.write(&seed)?;
        writer.write(&(ns as u64))?;
        writer.write(&sum)?;
        Ok(0)
    }
}
