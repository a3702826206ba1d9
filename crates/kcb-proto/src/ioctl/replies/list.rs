//! The one list-reply format.
//!
//! A fixed header that counts the entries the driver has (`total`) and
//! those in this buffer (`returned`), then
//! `returned` fixed-size entries. The report, the callback-object list and
//! the registration list are all this format with their own header and
//! entry types ([`ListHeader`]); one writer and one decoder serve them.

use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;

use super::wire::{PodSlice, check_version, read_header};
use crate::error::DecodeError;
use crate::ioctl::codes::RequestError;
use crate::pod::{Pod, write_pod};

/// The fixed header of a list reply: which entries follow it, how many at
/// most, and where it keeps its version and two counts.
pub trait ListHeader: Pod {
    /// The entries that follow the header.
    type Entry: Pod;
    /// Most entries a reply carries (`returned` never exceeds it).
    const MAX_ENTRIES: usize;
    /// The `version` field ([`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION)).
    fn version(&self) -> u32;
    /// Entries the driver has in all (may exceed [`returned`](Self::returned)).
    fn total(&self) -> u32;
    /// Entries present in this buffer.
    fn returned(&self) -> u32;
    /// Sets both counts (done by [`ListWriter::finish`]).
    fn set_counts(&mut self, total: u32, returned: u32);
}

/// Implements [`ListHeader`] for a header struct: its entry type, its
/// limit, and the name of its `total` field (`returned` and `version` are
/// named alike in every list).
macro_rules! list_header {
    ($header:ty => $entry:ty, max $max:expr, total $total:ident) => {
        impl $crate::ioctl::replies::list::ListHeader for $header {
            type Entry = $entry;
            const MAX_ENTRIES: usize = $max;
            fn version(&self) -> u32 {
                self.version
            }
            fn total(&self) -> u32 {
                self.$total
            }
            fn returned(&self) -> u32 {
                self.returned
            }
            fn set_counts(&mut self, total: u32, returned: u32) {
                self.$total = total;
                self.returned = returned;
            }
        }
    };
}

pub(crate) use list_header;

/// A decoded list reply.
#[derive(Clone, Copy)]
pub struct List<'a, H: ListHeader> {
    /// The header.
    pub header: H,
    /// The `header.returned()` entries (inline strings not yet validated:
    /// use the clamping accessors of [`WStr`](crate::WStr)).
    pub entries: PodSlice<'a, H::Entry>,
}

impl<H: ListHeader + fmt::Debug> fmt::Debug for List<'_, H>
where
    H::Entry: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List")
            .field("header", &self.header)
            .field("entries", &self.entries)
            .finish()
    }
}

/// Client side: decodes a list reply.
///
/// # Errors
/// Short buffer, wrong version, `returned > total` or
/// `returned > H::MAX_ENTRIES` ([`DecodeError::InvalidField`] naming `returned`),
/// fewer entries than `returned`. Never panics.
pub fn decode_list<H: ListHeader>(bytes: &[u8]) -> Result<List<'_, H>, DecodeError> {
    let header: H = read_header(bytes)?;
    check_version(header.version())?;
    let returned = usize::try_from(header.returned()).map_err(|_| DecodeError::InvalidField("returned"))?;
    if header.returned() > header.total() || returned > H::MAX_ENTRIES {
        return Err(DecodeError::InvalidField("returned"));
    }
    let entries = PodSlice::new(&bytes[size_of::<H>()..], returned)?;
    Ok(List { header, entries })
}

/// Driver side: fills a list reply entry by entry, whole entries only, at
/// most `H::MAX_ENTRIES`; entries that do not fit are counted in the
/// header's `total`, not stored. No allocation.
pub struct ListWriter<'a, H: ListHeader> {
    out: &'a mut [u8],
    total: u32,
    returned: u32,
    _header: PhantomData<H>,
}

impl<'a, H: ListHeader> ListWriter<'a, H> {
    /// Starts a reply in `out`.
    ///
    /// # Errors
    /// [`RequestError::TooSmall`] if `out` cannot hold the header.
    pub const fn new(out: &'a mut [u8]) -> Result<Self, RequestError> {
        if out.len() < size_of::<H>() {
            return Err(RequestError::TooSmall);
        }
        Ok(Self {
            out,
            total: 0,
            returned: 0,
            _header: PhantomData,
        })
    }

    /// Counts `entry` and stores it if there is room; returns whether it
    /// was stored.
    pub fn push(&mut self, entry: &H::Entry) -> bool {
        self.total = self.total.saturating_add(1);
        if self.returned as usize >= H::MAX_ENTRIES {
            return false;
        }
        let offset = size_of::<H>() + self.returned as usize * size_of::<H::Entry>();
        let stored = self
            .out
            .get_mut(offset..)
            .and_then(|rest| write_pod(entry, rest))
            .is_some();
        if stored {
            self.returned += 1;
        }
        stored
    }

    /// Entries stored so far.
    #[must_use]
    pub const fn returned(&self) -> u32 {
        self.returned
    }

    /// Writes `header` with the two counts set and returns the bytes used
    /// (the IRP's `Information`).
    #[must_use]
    pub fn finish(self, mut header: H) -> usize {
        header.set_counts(self.total, self.returned);
        // `new` checked that the header fits.
        let _ = write_pod(&header, self.out);
        size_of::<H>() + self.returned as usize * size_of::<H::Entry>()
    }
}

/// Driver side: writes `header` and as many of `entries` as fit (at most
/// `H::MAX_ENTRIES`); the header's `total` counts them all. Returns the
/// bytes written.
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold the header.
pub fn write_list<H: ListHeader>(
    out: &mut [u8],
    header: H,
    entries: &[H::Entry],
) -> Result<usize, RequestError> {
    let mut writer = ListWriter::<H>::new(out)?;
    for entry in entries {
        writer.push(entry);
    }
    Ok(writer.finish(header))
}
