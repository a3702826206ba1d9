//! Build script of the driver: the WDK's driver configuration (cfg and link
//! arguments), from the real wdk-build on Windows or the stand-in on Linux.

fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}
