//! The IOCTL protocol between `kcbctl` and the driver.
//!
//! All transfers are `METHOD_BUFFERED`. Every request input starts with a
//! [`RequestHeader`]; the driver decodes it with [`decode_request`] (which
//! copies, never keeping a reference to the caller's buffer) and answers with
//! the `write_*` helpers. The client builds requests with their `new`
//! constructors, sends them as [`bytes_of`](crate::bytes_of), and validates the reply with the
//! `decode_*` functions, which never panic on short or garbage input.
//!
//! Integers are in the native (little-endian) byte order of the machine: the
//! driver and the client always run on the same one.
//!
//! - [`codes`]: the control codes, [`Ioctl`], and the NTSTATUS a request
//!   completes with ([`RequestError`]);
//! - [`request`]: the request inputs and [`decode_request`];
//! - [`replies`]: the fixed-size replies, the one list-reply format
//!   ([`List`], [`ListWriter`]) the report and both object lists use, and
//!   the `READ_EVENTS` reply.
//!
//! Everything is re-exported here and at the crate root.

pub mod codes;
pub mod replies;
pub mod request;

pub use codes::*;
pub use replies::*;
pub use request::*;
