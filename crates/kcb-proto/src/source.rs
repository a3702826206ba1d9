//! The catalog of callback sources.

/// Declares [`SourceId`] together with its name table and `ALL` list so the
/// three can never disagree.
macro_rules! sources {
    ($( $(#[$doc:meta])* $variant:ident = $value:literal ),* $(,)?) => {
        /// One id per callback source in the catalog.
        ///
        /// The numbers are part of the wire format: never renumber a variant,
        /// only append new ones (and bump [`crate::RECORD_VERSION`] and
        /// [`crate::PROTOCOL_VERSION`] when the sizes of the stats or config
        /// responses change).
        #[repr(u16)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum SourceId {
            $( $(#[$doc])* $variant = $value, )*
        }

        impl SourceId {
            /// Every source, in id order (`ALL[i] as usize == i`).
            pub const ALL: [Self; SOURCE_COUNT] = [ $( Self::$variant, )* ];

            /// The stable display name (the variant name, e.g. `"LoadImage"`).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => stringify!($variant), )*
                }
            }

            /// Converts a raw wire value, or `None` if no source has that id.
            #[must_use]
            pub const fn from_u16(value: u16) -> Option<Self> {
                match value {
                    $( $value => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }

        /// Number of sources in the catalog; ids are `0..SOURCE_COUNT`.
        pub const SOURCE_COUNT: usize = [ $( $value ),* ].len();
    };
}

sources! {
    /// The driver itself (internal events: load, unload, registration results).
    Driver = 0,
    /// `PsSetLoadImageNotifyRoutine(Ex)`.
    LoadImage = 1,
    /// `PsSetCreateProcessNotifyRoutineEx(2)`: process create and exit.
    ProcessCreate = 2,
    /// `PsSetCreateThreadNotifyRoutine(Ex)`: thread create and exit.
    ThreadCreate = 3,
    /// `ObRegisterCallbacks`: handle pre/post operations.
    ObjectHandle = 4,
    /// `CmRegisterCallbackEx`: registry operations.
    Registry = 5,
    /// `ExRegisterCallback` observers of named callback objects.
    CallbackObject = 6,
    /// `PoRegisterPowerSettingCallback`.
    PowerSetting = 7,
    /// `KeRegisterNmiCallback`.
    Nmi = 8,
    /// `KeRegisterBoundCallback`.
    BoundException = 9,
    /// `KeRegisterBugCheckCallback`.
    BugCheck = 10,
    /// `KeRegisterBugCheckReasonCallback`.
    BugCheckReason = 11,
    /// `KeRegisterProcessorChangeCallback`.
    ProcessorChange = 12,
    /// `IoRegisterShutdownNotification`.
    Shutdown = 13,
    /// `IoRegisterLastChanceShutdownNotification`.
    LastChanceShutdown = 14,
    /// `IoRegisterPlugPlayNotification`.
    PlugPlay = 15,
    /// `IoRegisterFsRegistrationChange`.
    FsRegistration = 16,
    /// `IoRegisterDriverReinitialization`.
    DriverReinit = 17,
    /// `IoRegisterBootDriverReinitialization`.
    BootDriverReinit = 18,
    /// WHEA page-offline notification (`WheaRegisterPageOfflinePolicy`-style hook).
    PageOffline = 19,
    /// HAL profile / performance-monitor interrupt handler.
    ProfileInterrupt = 20,
    /// An interrupt service routine connected with `IoConnectInterruptEx`.
    Interrupt = 21,
    /// A synthetic burst requested with `IOCTL_KCB_FLOOD` (ring stress test).
    Flood = 22,
}

impl SourceId {
    /// The raw wire value.
    #[must_use]
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The index of this source in per-source arrays (`0..SOURCE_COUNT`).
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// This source's bit in an enabled-source bitmap (`1 << id`).
    #[must_use]
    pub const fn bit(self) -> u64 {
        1u64 << (self as u16)
    }

    /// Looks a source up by its [`name`](Self::name), ignoring ASCII case.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

impl core::fmt::Display for SourceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

// The enabled-source bitmap is a u64.
const _: () = assert!(SOURCE_COUNT <= 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_round_trip() {
        assert_eq!(SOURCE_COUNT, 23);
        for (i, s) in SourceId::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(SourceId::from_u16(s.as_u16()), Some(s));
            assert_eq!(SourceId::from_name(s.name()), Some(s));
            assert_eq!(SourceId::from_name(&s.name().to_ascii_uppercase()), Some(s));
        }
        assert_eq!(SourceId::from_u16(23), None);
        assert_eq!(SourceId::from_u16(u16::MAX), None);
        assert_eq!(SourceId::from_name("nope"), None);
        assert_eq!(SourceId::LoadImage.name(), "LoadImage");
        assert_eq!(SourceId::Flood.bit(), 1 << 22);
    }
}
