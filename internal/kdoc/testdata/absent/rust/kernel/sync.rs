/// Always here.
pub struct Mutex;
#[cfg(CONFIG_PROVE_LOCKING)]
/// Only with lockdep.
pub fn lockdep_assert_held() {}
#[cfg(any(target_arch = "arm", CONFIG_FOO))]
pub fn maybe() {}
