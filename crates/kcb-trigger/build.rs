//! Emits the WDM driver-model cfg and, for the Windows target, the kernel-driver link arguments.

fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}
