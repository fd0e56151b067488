//! kern: a crate shaped like the kernel crate, for rko's kdoc tests.
#![no_std]
pub mod alloc {
    //! Allocation.
    pub mod kvec {
        //! Vectors.
        /// A vector with an allocator.
        ///
        /// Second paragraph, not in the index.
        pub struct Vec<T, A> { x: T, a: A }
        /// The kmalloc allocator.
        pub struct Kmalloc;
        /// A [`Vec`] on kmalloc.
        pub type KVec<T> = Vec<T, Kmalloc>;
        impl<T, A> Vec<T, A> {
            /// Appends `v`, growing with `flags`.
            pub fn push(&mut self, v: T, flags: u32) -> Result<(), ()> { let _ = (v, flags); Ok(()) }
        }
    }
}
pub mod sync {
    //! Synchronisation.
    /// A mutual exclusion primitive.
    pub struct Mutex<T> {
        /// The protected data.
        pub data: T,
    }
    /// Locks, the trait.
    pub trait Backend {
        /// Takes the lock.
        fn lock(&self);
    }
    /// An old thing.
    #[deprecated]
    pub fn old_lock() {}
}
/// Errors.
pub enum Error {
    /// Out of memory.
    ENOMEM,
}
/// Prints at info level.
#[macro_export]
macro_rules! pr_info { () => {} }
pub mod miscdevice {
    //! Miscellaneous devices.
    /// A registration.
    pub struct MiscDeviceRegistration;
}
