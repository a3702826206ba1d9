//! Security descriptors, ACLs, ACEs and SIDs in their winnt.h byte layouts,
//! the Rtl routines drivers build them with, a parser for what was built,
//! and the access check the I/O manager makes when a device is opened.
//!
//! Layouts (winnt.h): `SID` = Revision (1), SubAuthorityCount (<= 15),
//! IdentifierAuthority (6 bytes, big-endian), SubAuthority[] (LE u32);
//! `ACL` = AclRevision, Sbz1, AclSize (u16), AceCount (u16), Sbz2, then the
//! ACEs; `ACCESS_ALLOWED_ACE` = ACE_HEADER {AceType, AceFlags, AceSize} +
//! Mask + the SID from `SidStart`; absolute `SECURITY_DESCRIPTOR` = Revision,
//! Sbz1, Control, then pointers Owner, Group, Sacl, Dacl; self-relative =
//! the same with 32-bit offsets from the descriptor's start.

#![allow(non_snake_case)]

pub mod object;

use std::fmt;

use wdk_sys::{
    ACCESS_MASK, BOOLEAN, NTSTATUS, PACL, PSECURITY_DESCRIPTOR, PSID, STATUS_ALLOTTED_SPACE_EXCEEDED,
    STATUS_BUFFER_TOO_SMALL, STATUS_INVALID_ACL, STATUS_INVALID_PARAMETER, STATUS_INVALID_SECURITY_DESCR,
    STATUS_INVALID_SID, STATUS_REVISION_MISMATCH, STATUS_SUCCESS, STATUS_UNKNOWN_REVISION, ULONG,
};

use crate::ddi;

/// `ACL_REVISION`.
pub const ACL_REVISION: u8 = 2;
/// `ACL_REVISION_DS`.
pub const ACL_REVISION_DS: u8 = 4;
/// `SECURITY_DESCRIPTOR_REVISION`.
pub const SECURITY_DESCRIPTOR_REVISION: u8 = 1;
/// `ACCESS_ALLOWED_ACE_TYPE`.
pub const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
/// `ACCESS_DENIED_ACE_TYPE`.
pub const ACCESS_DENIED_ACE_TYPE: u8 = 1;
/// `INHERIT_ONLY_ACE`.
pub const INHERIT_ONLY_ACE: u8 = 0x08;
/// `SE_OWNER_DEFAULTED`.
pub const SE_OWNER_DEFAULTED: u16 = 0x0001;
/// `SE_GROUP_DEFAULTED`.
pub const SE_GROUP_DEFAULTED: u16 = 0x0002;
/// `SE_DACL_PRESENT`.
pub const SE_DACL_PRESENT: u16 = 0x0004;
/// `SE_DACL_DEFAULTED`.
pub const SE_DACL_DEFAULTED: u16 = 0x0008;
/// `SE_SACL_PRESENT`.
pub const SE_SACL_PRESENT: u16 = 0x0010;
/// `SE_DACL_PROTECTED`.
pub const SE_DACL_PROTECTED: u16 = 0x1000;
/// `SE_SELF_RELATIVE`.
pub const SE_SELF_RELATIVE: u16 = 0x8000;
/// `GENERIC_READ`.
pub const GENERIC_READ: u32 = 0x8000_0000;
/// `GENERIC_WRITE`.
pub const GENERIC_WRITE: u32 = 0x4000_0000;
/// `GENERIC_EXECUTE`.
pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
/// `GENERIC_ALL`.
pub const GENERIC_ALL: u32 = 0x1000_0000;
/// `FILE_GENERIC_READ`.
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// `FILE_GENERIC_WRITE`.
pub const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
/// `FILE_GENERIC_EXECUTE`.
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
/// `FILE_ALL_ACCESS`.
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// `FILE_READ_DATA`.
pub const FILE_READ_DATA: u32 = 0x0001;
/// `FILE_WRITE_DATA`.
pub const FILE_WRITE_DATA: u32 = 0x0002;

/// A security identifier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sid {
    /// Revision (1).
    pub revision: u8,
    /// The 48-bit identifier authority.
    pub authority: u64,
    /// Sub-authorities.
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    /// A revision-1 SID.
    #[must_use]
    pub fn new(authority: u64, sub_authorities: &[u32]) -> Self {
        Self {
            revision: 1,
            authority,
            sub_authorities: sub_authorities.to_vec(),
        }
    }

    /// S-1-5-18 (LocalSystem).
    #[must_use]
    pub fn local_system() -> Self {
        Self::new(5, &[18])
    }

    /// S-1-5-32-544 (BUILTIN\Administrators).
    #[must_use]
    pub fn administrators() -> Self {
        Self::new(5, &[32, 544])
    }

    /// S-1-5-32-545 (BUILTIN\Users).
    #[must_use]
    pub fn users() -> Self {
        Self::new(5, &[32, 545])
    }

    /// S-1-1-0 (Everyone).
    #[must_use]
    pub fn world() -> Self {
        Self::new(1, &[0])
    }

    /// S-1-5-11 (Authenticated Users).
    #[must_use]
    pub fn authenticated_users() -> Self {
        Self::new(5, &[11])
    }

    /// S-1-5-12 (Restricted code).
    #[must_use]
    pub fn restricted() -> Self {
        Self::new(5, &[12])
    }

    /// The winnt.h bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![
            self.revision,
            u8::try_from(self.sub_authorities.len()).unwrap_or(u8::MAX),
        ];
        bytes.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for sub in &self.sub_authorities {
            bytes.extend_from_slice(&sub.to_le_bytes());
        }
        bytes
    }

    /// Parses a SID at the start of `bytes`; returns it and its length.
    ///
    /// # Errors
    /// Short input, revision other than 1, more than 15 sub-authorities.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), ParseError> {
        let header = bytes.get(..8).ok_or(ParseError::Truncated("SID"))?;
        let (revision, count) = (header[0], usize::from(header[1]));
        if revision != 1 || count > 15 {
            return Err(ParseError::InvalidSid);
        }
        let len = 8 + 4 * count;
        let body = bytes.get(8..len).ok_or(ParseError::Truncated("SID"))?;
        let mut authority = [0u8; 8];
        authority[2..].copy_from_slice(&header[2..8]);
        let sub_authorities = body
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((
            Self {
                revision,
                authority: u64::from_be_bytes(authority),
                sub_authorities,
            },
            len,
        ))
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-{}-{}", self.revision, self.authority)?;
        for sub in &self.sub_authorities {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

/// One ACE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    /// `AceType`.
    pub ace_type: u8,
    /// `AceFlags`.
    pub flags: u8,
    /// `Mask` (for allowed/denied ACEs).
    pub mask: u32,
    /// The trustee (for allowed/denied ACEs).
    pub sid: Sid,
}

/// An ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    /// `AclRevision`.
    pub revision: u8,
    /// `AclSize`.
    pub size: u16,
    /// The ACEs, in order.
    pub aces: Vec<Ace>,
}

impl Acl {
    /// Parses an ACL at the start of `bytes` (only allowed/denied ACEs are
    /// decoded; others are reported as [`ParseError::UnsupportedAce`]).
    ///
    /// # Errors
    /// Malformed header, sizes or SIDs.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let header = bytes.get(..8).ok_or(ParseError::Truncated("ACL"))?;
        let revision = header[0];
        let size = u16::from_le_bytes([header[2], header[3]]);
        let count = u16::from_le_bytes([header[4], header[5]]);
        if !(ACL_REVISION..=ACL_REVISION_DS).contains(&revision) || header[1] != 0 || size < 8 {
            return Err(ParseError::InvalidAcl);
        }
        let body = bytes
            .get(..usize::from(size))
            .ok_or(ParseError::Truncated("ACL"))?;
        let mut offset = 8;
        let mut aces = Vec::new();
        for _ in 0..count {
            let ace = body.get(offset..offset + 4).ok_or(ParseError::InvalidAcl)?;
            let (ace_type, flags, ace_size) =
                (ace[0], ace[1], usize::from(u16::from_le_bytes([ace[2], ace[3]])));
            if ace_size < 4 || ace_size % 4 != 0 {
                return Err(ParseError::InvalidAcl);
            }
            let whole = body
                .get(offset..offset + ace_size)
                .ok_or(ParseError::InvalidAcl)?;
            if ace_type != ACCESS_ALLOWED_ACE_TYPE && ace_type != ACCESS_DENIED_ACE_TYPE {
                return Err(ParseError::UnsupportedAce(ace_type));
            }
            let mask_bytes = whole.get(4..8).ok_or(ParseError::InvalidAcl)?;
            let mask = u32::from_le_bytes([mask_bytes[0], mask_bytes[1], mask_bytes[2], mask_bytes[3]]);
            let (sid, sid_len) = Sid::parse(&whole[8..])?;
            if 8 + sid_len > ace_size {
                return Err(ParseError::InvalidAcl);
            }
            aces.push(Ace {
                ace_type,
                flags,
                mask,
                sid,
            });
            offset += ace_size;
        }
        Ok(Self { revision, size, aces })
    }
}

/// A parsed security descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityDescriptor {
    /// `Control` (as stored: self-relative descriptors have `SE_SELF_RELATIVE`).
    pub control: u16,
    /// Owner.
    pub owner: Option<Sid>,
    /// Primary group.
    pub group: Option<Sid>,
    /// DACL: `None` if not present or NULL (which grants everything).
    pub dacl: Option<Acl>,
}

impl SecurityDescriptor {
    /// Parses a self-relative descriptor.
    ///
    /// # Errors
    /// Malformed bytes.
    pub fn parse_self_relative(bytes: &[u8]) -> Result<Self, ParseError> {
        let header = bytes
            .get(..20)
            .ok_or(ParseError::Truncated("SECURITY_DESCRIPTOR_RELATIVE"))?;
        if header[0] != SECURITY_DESCRIPTOR_REVISION {
            return Err(ParseError::InvalidSecurityDescriptor);
        }
        let control = u16::from_le_bytes([header[2], header[3]]);
        if control & SE_SELF_RELATIVE == 0 {
            return Err(ParseError::InvalidSecurityDescriptor);
        }
        let offset =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]) as usize;
        let sid_at = |o: usize| -> Result<Option<Sid>, ParseError> {
            if o == 0 {
                Ok(None)
            } else {
                Sid::parse(bytes.get(o..).ok_or(ParseError::InvalidSecurityDescriptor)?).map(|(s, _)| Some(s))
            }
        };
        let owner = sid_at(offset(4))?;
        let group = sid_at(offset(8))?;
        let dacl_offset = offset(16);
        let dacl = if control & SE_DACL_PRESENT != 0 && dacl_offset != 0 {
            Some(Acl::parse(
                bytes
                    .get(dacl_offset..)
                    .ok_or(ParseError::InvalidSecurityDescriptor)?,
            )?)
        } else {
            None
        };
        Ok(Self {
            control,
            owner,
            group,
            dacl,
        })
    }

    /// The SDDL-like summary of the DACL, e.g. `D:(A;;0x1f01ff;;;S-1-5-18)`.
    #[must_use]
    pub fn dacl_text(&self) -> String {
        let Some(dacl) = &self.dacl else {
            return "D:NO_ACCESS_CONTROL".to_owned();
        };
        let mut text = String::from("D:");
        for ace in &dacl.aces {
            let kind = if ace.ace_type == ACCESS_ALLOWED_ACE_TYPE {
                "A"
            } else {
                "D"
            };
            text.push_str(&format!(
                "({kind};{:#x};{:#x};;;{})",
                ace.flags, ace.mask, ace.sid
            ));
        }
        text
    }
}

/// Why bytes are not a valid structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the named structure.
    Truncated(&'static str),
    /// Not a valid SID.
    InvalidSid,
    /// Not a valid ACL.
    InvalidAcl,
    /// An ACE type the parser does not decode.
    UnsupportedAce(u8),
    /// Not a valid security descriptor.
    InvalidSecurityDescriptor,
}

impl ParseError {
    /// The NTSTATUS a kernel routine would report.
    #[must_use]
    pub const fn ntstatus(self) -> NTSTATUS {
        match self {
            Self::InvalidSid => STATUS_INVALID_SID,
            Self::InvalidAcl | Self::UnsupportedAce(_) => STATUS_INVALID_ACL,
            Self::Truncated(_) | Self::InvalidSecurityDescriptor => STATUS_INVALID_SECURITY_DESCR,
        }
    }
}

/// Builds a self-relative descriptor (header, owner, group, DACL).
#[must_use]
pub fn build_self_relative(
    control: u16,
    owner: Option<&Sid>,
    group: Option<&Sid>,
    dacl: Option<&[u8]>,
) -> Vec<u8> {
    let mut bytes = vec![0u8; 20];
    bytes[0] = SECURITY_DESCRIPTOR_REVISION;
    let mut control = control | SE_SELF_RELATIVE;
    let put = |bytes: &mut Vec<u8>, at: usize, data: Option<Vec<u8>>| {
        if let Some(data) = data {
            let offset = u32::try_from(bytes.len()).unwrap_or(0);
            bytes[at..at + 4].copy_from_slice(&offset.to_le_bytes());
            bytes.extend_from_slice(&data);
        }
    };
    put(&mut bytes, 4, owner.map(Sid::to_bytes));
    put(&mut bytes, 8, group.map(Sid::to_bytes));
    if let Some(dacl) = dacl {
        control |= SE_DACL_PRESENT;
        put(&mut bytes, 16, Some(dacl.to_vec()));
    }
    bytes[2..4].copy_from_slice(&control.to_le_bytes());
    bytes
}

/// Builds an ACL's bytes from ACEs.
#[must_use]
pub fn build_acl(aces: &[Ace]) -> Vec<u8> {
    let mut body = Vec::new();
    for ace in aces {
        let sid = ace.sid.to_bytes();
        let size = u16::try_from(8 + sid.len()).unwrap_or(u16::MAX);
        body.extend_from_slice(&[ace.ace_type, ace.flags]);
        body.extend_from_slice(&size.to_le_bytes());
        body.extend_from_slice(&ace.mask.to_le_bytes());
        body.extend_from_slice(&sid);
    }
    let size = u16::try_from(8 + body.len()).unwrap_or(u16::MAX);
    let count = u16::try_from(aces.len()).unwrap_or(u16::MAX);
    let mut bytes = vec![ACL_REVISION, 0];
    bytes.extend_from_slice(&size.to_le_bytes());
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(&body);
    bytes
}

/// Maps generic rights to file-specific ones (the file object type's
/// generic mapping).
#[must_use]
pub const fn map_generic_file(mask: u32) -> u32 {
    let mut mapped = mask & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
    if mask & GENERIC_READ != 0 {
        mapped |= FILE_GENERIC_READ;
    }
    if mask & GENERIC_WRITE != 0 {
        mapped |= FILE_GENERIC_WRITE;
    }
    if mask & GENERIC_EXECUTE != 0 {
        mapped |= FILE_GENERIC_EXECUTE;
    }
    if mask & GENERIC_ALL != 0 {
        mapped |= FILE_ALL_ACCESS;
    }
    mapped
}

/// The discretionary access check: the rights in `desired` (generic rights
/// mapped) that `token` is granted, or `None` if one is denied or missing.
/// No DACL grants everything; an empty DACL grants nothing. ACEs are
/// evaluated in order; inherit-only ACEs are skipped.
#[must_use]
pub fn access_check(sd: Option<&SecurityDescriptor>, token: &[Sid], desired: u32) -> Option<u32> {
    let desired = map_generic_file(desired);
    let Some(dacl) = sd.and_then(|sd| sd.dacl.as_ref()) else {
        return Some(desired);
    };
    let mut remaining = desired;
    for ace in &dacl.aces {
        if ace.flags & INHERIT_ONLY_ACE != 0 || !token.contains(&ace.sid) {
            continue;
        }
        let mask = map_generic_file(ace.mask);
        if ace.ace_type == ACCESS_DENIED_ACE_TYPE && mask & remaining != 0 {
            return None;
        }
        if ace.ace_type == ACCESS_ALLOWED_ACE_TYPE {
            remaining &= !mask;
        }
        if remaining == 0 {
            return Some(desired);
        }
    }
    None
}

// --- Raw access to caller memory ----------------------------------------

/// Reads `len` bytes at `ptr`.
///
/// # Safety
/// `ptr` is readable for `len` bytes.
const unsafe fn bytes_at<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    // SAFETY: forwarded to the caller.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// Length of the SID at `sid` if it is structurally valid.
///
/// # Safety
/// `sid` is null or readable for 8 bytes, and for the whole SID if its header is valid.
unsafe fn sid_len(sid: PSID) -> Option<usize> {
    if sid.is_null() {
        return None;
    }
    // SAFETY: the header is readable per the caller.
    let header = unsafe { bytes_at(sid.cast(), 8) };
    if header[0] != 1 || header[1] > 15 {
        return None;
    }
    Some(8 + 4 * usize::from(header[1]))
}

/// Offset of the first free byte in a valid ACL, or `None` if the ACL is malformed.
fn acl_used(acl: &[u8]) -> Option<usize> {
    let revision = acl[0];
    let size = usize::from(u16::from_le_bytes([acl[2], acl[3]]));
    let count = u16::from_le_bytes([acl[4], acl[5]]);
    if !(ACL_REVISION..=ACL_REVISION_DS).contains(&revision) || acl[1] != 0 || size < 8 || size > acl.len() {
        return None;
    }
    let mut offset = 8;
    for _ in 0..count {
        let header = acl.get(offset..offset + 4)?;
        let ace_size = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if ace_size < 4 || offset + ace_size > size {
            return None;
        }
        offset += ace_size;
    }
    Some(offset)
}

/// `RtlCreateAcl` (ntifs/nf-ntifs-rtlcreateacl): `<= APC_LEVEL`.
///
/// `STATUS_BUFFER_TOO_SMALL` below `sizeof(ACL)`; `STATUS_INVALID_PARAMETER`
/// for a revision other than `ACL_REVISION`/`ACL_REVISION_DS` or a length
/// above what the 16-bit `AclSize` holds.
///
/// # Safety
/// `acl` is writable for `acl_length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RtlCreateAcl(acl: PACL, acl_length: ULONG, acl_revision: ULONG) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::RTL_CREATE_ACL));
    if acl_length < 8 {
        return STATUS_BUFFER_TOO_SMALL;
    }
    let Ok(size) = u16::try_from(acl_length) else {
        return STATUS_INVALID_PARAMETER;
    };
    let revision = u8::try_from(acl_revision).unwrap_or(0);
    if !(ACL_REVISION..=ACL_REVISION_DS).contains(&revision) || acl.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: writable per the caller (at least 8 bytes, checked above).
    unsafe {
        acl.write_unaligned(wdk_sys::ACL {
            AclRevision: revision,
            Sbz1: 0,
            AclSize: size,
            AceCount: 0,
            Sbz2: 0,
        });
    };
    STATUS_SUCCESS
}

/// `RtlAddAccessAllowedAce` (ntifs/nf-ntifs-rtladdaccessallowedace):
/// `< DISPATCH_LEVEL`. Appends an `ACCESS_ALLOWED_ACE`; statuses
/// `STATUS_ALLOTTED_SPACE_EXCEEDED`, `STATUS_INVALID_ACL`,
/// `STATUS_INVALID_SID`, `STATUS_REVISION_MISMATCH` as documented. The ACL's
/// revision is raised to the ACE's if lower.
///
/// # Safety
/// `acl` is a writable ACL of `AclSize` bytes; `sid` is a readable SID.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RtlAddAccessAllowedAce(
    acl: PACL,
    ace_revision: ULONG,
    access_mask: ACCESS_MASK,
    sid: PSID,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::RTL_ADD_ACCESS_ALLOWED_ACE));
    if acl.is_null() {
        return STATUS_INVALID_ACL;
    }
    // SAFETY: the ACL header is readable per the caller.
    let header = unsafe { acl.read_unaligned() };
    let size = usize::from(header.AclSize);
    if size < 8 {
        return STATUS_INVALID_ACL;
    }
    // SAFETY: the ACL is AclSize bytes per the caller.
    let acl_bytes = unsafe { bytes_at(acl.cast::<u8>(), size) };
    let Some(used) = acl_used(acl_bytes) else {
        return STATUS_INVALID_ACL;
    };
    // SAFETY: readable per the caller.
    let Some(sid_length) = (unsafe { sid_len(sid) }) else {
        return STATUS_INVALID_SID;
    };
    let revision = u8::try_from(ace_revision).unwrap_or(0);
    if !(ACL_REVISION..=ACL_REVISION_DS).contains(&revision) {
        return STATUS_REVISION_MISMATCH;
    }
    let ace_size = 8 + sid_length;
    if used + ace_size > size {
        return STATUS_ALLOTTED_SPACE_EXCEEDED;
    }
    // SAFETY: the SID is sid_length readable bytes (validated header).
    let sid_bytes = unsafe { bytes_at(sid.cast(), sid_length) }.to_vec();
    let mut ace = Vec::with_capacity(ace_size);
    ace.extend_from_slice(&[ACCESS_ALLOWED_ACE_TYPE, 0]);
    ace.extend_from_slice(&u16::try_from(ace_size).unwrap_or(0).to_le_bytes());
    ace.extend_from_slice(&access_mask.to_le_bytes());
    ace.extend_from_slice(&sid_bytes);
    // SAFETY: `used + ace_size <= AclSize`, all inside the caller's writable ACL.
    unsafe {
        std::ptr::copy_nonoverlapping(ace.as_ptr(), acl.cast::<u8>().wrapping_add(used), ace_size);
    };
    let updated = wdk_sys::ACL {
        AclRevision: header.AclRevision.max(revision),
        AceCount: header.AceCount + 1,
        ..header
    };
    // SAFETY: writable per the caller.
    unsafe { acl.write_unaligned(updated) };
    STATUS_SUCCESS
}

/// `RtlCreateSecurityDescriptor` (wdm/nf-wdm-rtlcreatesecuritydescriptor):
/// PASSIVE_LEVEL. Initialises an absolute descriptor with nothing set;
/// `STATUS_UNKNOWN_REVISION` for a revision other than 1.
///
/// # Safety
/// `security_descriptor` is a writable `SECURITY_DESCRIPTOR`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RtlCreateSecurityDescriptor(
    security_descriptor: PSECURITY_DESCRIPTOR,
    revision: ULONG,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::RTL_CREATE_SECURITY_DESCRIPTOR));
    if revision != u32::from(SECURITY_DESCRIPTOR_REVISION) {
        return STATUS_UNKNOWN_REVISION;
    }
    if security_descriptor.is_null() {
        return STATUS_INVALID_SECURITY_DESCR;
    }
    let sd = security_descriptor.cast::<wdk_sys::SECURITY_DESCRIPTOR>();
    // SAFETY: writable per the caller.
    unsafe {
        sd.write_unaligned(wdk_sys::SECURITY_DESCRIPTOR {
            Revision: SECURITY_DESCRIPTOR_REVISION,
            Sbz1: 0,
            Control: 0,
            Owner: std::ptr::null_mut(),
            Group: std::ptr::null_mut(),
            Sacl: std::ptr::null_mut(),
            Dacl: std::ptr::null_mut(),
        });
    };
    STATUS_SUCCESS
}

/// `RtlSetDaclSecurityDescriptor` (wdm/nf-wdm-rtlsetdaclsecuritydescriptor):
/// PASSIVE_LEVEL. Sets or clears `SE_DACL_PRESENT`/`SE_DACL_DEFAULTED` and
/// the DACL pointer (the ACL is referenced, not copied).
/// `STATUS_UNKNOWN_REVISION`; `STATUS_INVALID_SECURITY_DESCR` for a
/// self-relative descriptor.
///
/// # Safety
/// `security_descriptor` is a writable absolute descriptor.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RtlSetDaclSecurityDescriptor(
    security_descriptor: PSECURITY_DESCRIPTOR,
    dacl_present: BOOLEAN,
    dacl: PACL,
    dacl_defaulted: BOOLEAN,
) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::RTL_SET_DACL_SECURITY_DESCRIPTOR));
    if security_descriptor.is_null() {
        return STATUS_INVALID_SECURITY_DESCR;
    }
    let sd = security_descriptor.cast::<wdk_sys::SECURITY_DESCRIPTOR>();
    // SAFETY: readable per the caller.
    let mut value = unsafe { sd.read_unaligned() };
    if value.Revision != SECURITY_DESCRIPTOR_REVISION {
        return STATUS_UNKNOWN_REVISION;
    }
    if value.Control & SE_SELF_RELATIVE != 0 {
        return STATUS_INVALID_SECURITY_DESCR;
    }
    if dacl_present == 0 {
        value.Control &= !SE_DACL_PRESENT;
    } else {
        value.Control |= SE_DACL_PRESENT;
        value.Dacl = dacl;
        if dacl_defaulted == 0 {
            value.Control &= !SE_DACL_DEFAULTED;
        } else {
            value.Control |= SE_DACL_DEFAULTED;
        }
    }
    // SAFETY: writable per the caller.
    unsafe { sd.write_unaligned(value) };
    STATUS_SUCCESS
}

/// A captured descriptor: control, owner, group and the DACL's bytes.
pub(crate) type Captured = (u16, Option<Sid>, Option<Sid>, Option<Vec<u8>>);

/// Reads a caller's descriptor (absolute or self-relative) into owned parts:
/// control, owner, group and the DACL's bytes (`None` if not present or NULL).
///
/// # Safety
/// `sd` is a readable descriptor whose pointers/offsets are valid.
pub(crate) unsafe fn capture(sd: PSECURITY_DESCRIPTOR) -> Result<Captured, NTSTATUS> {
    if sd.is_null() {
        return Err(STATUS_INVALID_SECURITY_DESCR);
    }
    // SAFETY: the 4-byte header is readable per the caller.
    let head = unsafe { bytes_at(sd.cast(), 4) };
    if head[0] != SECURITY_DESCRIPTOR_REVISION {
        return Err(STATUS_UNKNOWN_REVISION);
    }
    let control = u16::from_le_bytes([head[2], head[3]]);
    let (owner, group, dacl): (*const u8, *const u8, *const u8) = if control & SE_SELF_RELATIVE != 0 {
        // SAFETY: a self-relative header is 20 readable bytes.
        let rel = unsafe { bytes_at(sd.cast(), 20) };
        let at = |i: usize| {
            let offset = u32::from_le_bytes([rel[i], rel[i + 1], rel[i + 2], rel[i + 3]]) as usize;
            if offset == 0 {
                std::ptr::null()
            } else {
                sd.cast::<u8>().wrapping_add(offset).cast_const()
            }
        };
        (at(4), at(8), at(16))
    } else {
        // SAFETY: an absolute descriptor is readable per the caller.
        let abs = unsafe { sd.cast::<wdk_sys::SECURITY_DESCRIPTOR>().read_unaligned() };
        (
            abs.Owner.cast_const().cast(),
            abs.Group.cast_const().cast(),
            abs.Dacl.cast_const().cast(),
        )
    };
    let read_sid = |p: *const u8| -> Result<Option<Sid>, NTSTATUS> {
        if p.is_null() {
            return Ok(None);
        }
        // SAFETY: the descriptor's SID pointers are readable per the caller.
        let len = unsafe { sid_len(p.cast_mut().cast()) }.ok_or(STATUS_INVALID_SID)?;
        // SAFETY: as above, `len` bytes.
        Sid::parse(unsafe { bytes_at(p, len) })
            .map(|(s, _)| Some(s))
            .map_err(ParseError::ntstatus)
    };
    let owner = read_sid(owner)?;
    let group = read_sid(group)?;
    let dacl = if control & SE_DACL_PRESENT != 0 && !dacl.is_null() {
        // SAFETY: the ACL header is readable per the caller.
        let header = unsafe { bytes_at(dacl, 8) };
        let size = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if size < 8 {
            return Err(STATUS_INVALID_ACL);
        }
        // SAFETY: the ACL is AclSize bytes.
        let bytes = unsafe { bytes_at(dacl, size) }.to_vec();
        Acl::parse(&bytes).map_err(ParseError::ntstatus)?;
        Some(bytes)
    } else {
        None
    };
    Ok((control & !SE_SELF_RELATIVE, owner, group, dacl))
}
