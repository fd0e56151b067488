/// A disk.
pub struct GenDisk;
