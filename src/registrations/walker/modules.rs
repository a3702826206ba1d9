//! The system's module list (`ZwQuerySystemInformation`,
//! `SystemModuleInformation`) in a paged-pool block, to name the module
//! and offset of each registered routine.

use wdk_sys::{STATUS_INFO_LENGTH_MISMATCH, STATUS_INSUFFICIENT_RESOURCES};

use crate::kernel::{
    imports::ZwQuerySystemInformation,
    pool::{Pool, PoolBlock},
};

/// `SystemModuleInformation`.
const SYSTEM_MODULE_INFORMATION: u32 = 11;
/// Pool tag of the module-list buffer.
const POOL_TAG: u32 = u32::from_le_bytes(*b"kcbW");
/// Largest module list accepted (a few hundred modules need ~100 KB).
const MAX_MODULE_BUFFER: usize = 4 << 20;

/// `RTL_PROCESS_MODULES` / `RTL_PROCESS_MODULE_INFORMATION`: not documented
/// by Microsoft; this is the layout commonly published for x64 (e.g.
/// Process Hacker's `ntldr.h`): a ULONG `NumberOfModules`, then from offset
/// 8 entries of 0x128 bytes: `Section`, `MappedBase`, `ImageBase`
/// (pointers), `ImageSize`, `Flags` (ULONG), `LoadOrderIndex`,
/// `InitOrderIndex`, `LoadCount`, `OffsetToFileName` (USHORT),
/// `FullPathName[256]` (ANSI).
mod module_field {
    pub const FIRST: usize = 8;
    pub const SIZE: usize = 0x128;
    pub const IMAGE_BASE: usize = 0x10;
    pub const IMAGE_SIZE: usize = 0x18;
    pub const OFFSET_TO_FILE_NAME: usize = 0x26;
    pub const FULL_PATH_NAME: usize = 0x28;
    pub const FULL_PATH_LEN: usize = 256;
}

/// The system's module list, in a paged-pool block freed on drop.
pub(super) struct ModuleList {
    block: PoolBlock,
}

impl ModuleList {
    /// Queries the module list.
    ///
    /// # Errors
    /// The failing status.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    pub(super) fn query() -> Result<Self, i32> {
        let mut needed = 0_u32;
        // SAFETY: a size query: no buffer, `needed` receives the size.
        let mut status = unsafe {
            ZwQuerySystemInformation(
                SYSTEM_MODULE_INFORMATION,
                core::ptr::null_mut(),
                0,
                &raw mut needed,
            )
        };
        for _ in 0..4 {
            if status >= 0 || status != STATUS_INFO_LENGTH_MISMATCH {
                break;
            }
            // Room for modules loaded meanwhile.
            let size = (needed as usize).saturating_add(4 * module_field::SIZE);
            if needed == 0 || size > MAX_MODULE_BUFFER {
                return Err(STATUS_INFO_LENGTH_MISMATCH);
            }
            let Some(block) = PoolBlock::zeroed(Pool::Paged, size, POOL_TAG) else {
                return Err(STATUS_INSUFFICIENT_RESOURCES);
            };
            let buffer = block.as_ptr();
            let list = Self { block };
            #[allow(clippy::cast_possible_truncation, reason = "at most MAX_MODULE_BUFFER")]
            let length = size as u32;
            // SAFETY: the buffer is writable for `size` bytes.
            status = unsafe {
                ZwQuerySystemInformation(SYSTEM_MODULE_INFORMATION, buffer.cast(), length, &raw mut needed)
            };
            if status >= 0 {
                return Ok(list);
            }
        }
        Err(status)
    }

    const fn bytes(&self) -> &[u8] {
        // SAFETY: the block was written (by ZwQuerySystemInformation) before
        // the list was returned; nothing writes it afterwards.
        unsafe { self.block.bytes() }
    }

    /// The module containing `routine`: its file name and the offset.
    ///
    /// # IRQL
    /// Any at which the paged block may be read: `<= APC_LEVEL`.
    pub(super) fn find(&self, routine: u64) -> Option<([u8; 32], u64)> {
        let bytes = self.bytes();
        let count = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let fits = (bytes.len() - module_field::FIRST) / module_field::SIZE;
        (0..count.min(fits)).find_map(|index| {
            let start = module_field::FIRST + index * module_field::SIZE;
            let entry = bytes.get(start..start + module_field::SIZE)?;
            let field = |at: usize, n: usize| entry.get(at..at + n);
            let base = u64::from_le_bytes(field(module_field::IMAGE_BASE, 8)?.try_into().ok()?);
            let size = u32::from_le_bytes(field(module_field::IMAGE_SIZE, 4)?.try_into().ok()?);
            let offset = routine.checked_sub(base).filter(|o| *o < u64::from(size))?;
            let name_at = usize::from(u16::from_le_bytes(
                field(module_field::OFFSET_TO_FILE_NAME, 2)?.try_into().ok()?,
            ));
            let path = field(module_field::FULL_PATH_NAME, module_field::FULL_PATH_LEN)?;
            let file = path.get(name_at..).unwrap_or(path);
            let mut name = [0u8; 32];
            for (slot, &b) in name.iter_mut().zip(file.iter().take_while(|&&b| b != 0)) {
                *slot = if b.is_ascii_graphic() || b == b' ' {
                    b
                } else {
                    b'?'
                };
            }
            Some((name, offset))
        })
    }
}
