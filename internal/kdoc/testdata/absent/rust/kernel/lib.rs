//! The kernel crate (test tree).
#[cfg(CONFIG_BLOCK)]
pub mod block;
#[cfg(all(CONFIG_NET, not(CONFIG_TINY)))]
pub mod net;
pub mod sync;
#[cfg(CONFIG_I2C = "y")]
pub mod i2c;
