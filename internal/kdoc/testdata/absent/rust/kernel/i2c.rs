pub struct I2cClient;
