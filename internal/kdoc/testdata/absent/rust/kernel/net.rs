pub struct PhyDevice;
