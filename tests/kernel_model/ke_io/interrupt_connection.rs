//! An RAII guard for `IoConnectInterruptEx`, exercised against the kernel
//! model. kcallbacks has no device to take an interrupt from, so it never
//! connects one: the guard is test code and lives with its tests (it moved
//! here from `src/io.rs`, issue #13).

use wdk_sys::{
    IO_CONNECT_INTERRUPT_PARAMETERS, IO_DISCONNECT_INTERRUPT_PARAMETERS, NTSTATUS,
    ntddk::{IoConnectInterruptEx, IoDisconnectInterruptEx},
};

/// An interrupt connection made with `IoConnectInterruptEx`; dropping it
/// calls `IoDisconnectInterruptEx` with the same version and object.
///
pub struct InterruptConnection {
    parameters: IO_CONNECT_INTERRUPT_PARAMETERS,
}

impl InterruptConnection {
    /// Connects. The ISR may run before this returns
    /// (iointex/nf-iointex-wdmlibioconnectinterruptex).
    ///
    /// # Errors
    /// `IoConnectInterruptEx`'s status.
    ///
    /// # Safety
    /// `parameters` describes a valid connection request whose ISR, context
    /// and (for the fully specified and message versions) object pointers
    /// stay valid until the guard is dropped.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub unsafe fn connect(mut parameters: IO_CONNECT_INTERRUPT_PARAMETERS) -> Result<Self, NTSTATUS> {
        // SAFETY: forwarded contract.
        let status = unsafe { IoConnectInterruptEx(&raw mut parameters) };
        if status < 0 {
            return Err(status);
        }
        Ok(Self { parameters })
    }
}

impl Drop for InterruptConnection {
    fn drop(&mut self) {
        // In every version the second field is a pointer to where the
        // kernel stored the connection (interrupt object or message table),
        // and `Version` now holds the version actually connected
        // (iointex/nf-iointex-wdmlibiodisconnectinterruptex).
        // SAFETY: reading the pointer field common to all union members.
        let storage = unsafe { self.parameters.__bindgen_anon_1.FullySpecified.InterruptObject };
        if storage.is_null() {
            return;
        }
        // SAFETY: the caller of `connect` keeps that storage valid until drop.
        let connection = unsafe { *storage };
        let mut disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS {
            Version: self.parameters.Version,
            ..Default::default()
        };
        disconnect.ConnectionContext.Generic = connection.cast();
        // SAFETY: disconnecting the connection this guard made, once, at PASSIVE_LEVEL.
        unsafe { IoDisconnectInterruptEx(&raw mut disconnect) };
    }
}
