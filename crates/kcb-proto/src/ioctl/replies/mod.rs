//! The driver's replies.
//!
//! Fixed-size replies implement [`Response`] and are decoded with
//! [`decode_response`]; the three lists (report, callback objects,
//! registrations) are one format, [`List`], with their own header and entry
//! types; `READ_EVENTS` carries a record stream.

pub mod callback_objects;
pub mod events;
pub mod fixed;
pub mod list;
pub mod registrations;
pub mod report;
pub mod wire;

pub use callback_objects::*;
pub use events::*;
pub use fixed::*;
pub use list::{List, ListHeader, ListWriter, decode_list, write_list};
pub use registrations::*;
pub use report::*;
pub use wire::{PodSlice, Response, ascii_field, ascii_str, decode_response, write_response};
