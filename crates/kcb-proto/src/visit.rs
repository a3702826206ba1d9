//! [`FieldVisitor`]: a payload's fields one by one, in layout order.

use core::fmt;

use crate::wstr::WStrView;

/// Receives the fields of a payload one by one, in layout order.
///
/// The text and JSON formatters are visitors; a client can implement its own
/// (CSV, tables) with no knowledge of the payload layouts.
pub trait FieldVisitor {
    /// An unsigned integer shown in decimal.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn unsigned(&mut self, name: &'static str, value: u64) -> fmt::Result;
    /// A signed integer shown in decimal.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn signed(&mut self, name: &'static str, value: i64) -> fmt::Result;
    /// An address, size or bit mask (hex in text, a number in JSON).
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn hex(&mut self, name: &'static str, value: u64) -> fmt::Result;
    /// An NTSTATUS.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn status(&mut self, name: &'static str, value: i32) -> fmt::Result;
    /// A boolean flag.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn boolean(&mut self, name: &'static str, value: bool) -> fmt::Result;
    /// A raw enumerated value with its label when known.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn enumeration(&mut self, name: &'static str, value: u32, label: Option<&'static str>) -> fmt::Result;
    /// An inline UTF-16 string (possibly unvalidated: use its clamping accessors).
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn string(&mut self, name: &'static str, value: WStrView<'_>) -> fmt::Result;
    /// A GUID in Windows memory layout.
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn guid(&mut self, name: &'static str, value: &[u8; 16]) -> fmt::Result;
    /// Raw bytes (hex).
    ///
    /// # Errors
    /// Propagates formatter errors.
    fn bytes(&mut self, name: &'static str, value: &[u8]) -> fmt::Result;
}

/// Visitor that passes every string field to a closure and skips the rest
/// (see [`EventRecord::for_each_string`]).
pub struct Strings<F>(pub F);

impl<F: FnMut(&'static str, WStrView<'_>)> FieldVisitor for Strings<F> {
    fn unsigned(&mut self, _: &'static str, _: u64) -> fmt::Result {
        Ok(())
    }
    fn signed(&mut self, _: &'static str, _: i64) -> fmt::Result {
        Ok(())
    }
    fn hex(&mut self, _: &'static str, _: u64) -> fmt::Result {
        Ok(())
    }
    fn status(&mut self, _: &'static str, _: i32) -> fmt::Result {
        Ok(())
    }
    fn boolean(&mut self, _: &'static str, _: bool) -> fmt::Result {
        Ok(())
    }
    fn enumeration(&mut self, _: &'static str, _: u32, _: Option<&'static str>) -> fmt::Result {
        Ok(())
    }
    fn string(&mut self, name: &'static str, value: WStrView<'_>) -> fmt::Result {
        (self.0)(name, value);
        Ok(())
    }
    fn guid(&mut self, _: &'static str, _: &[u8; 16]) -> fmt::Result {
        Ok(())
    }
    fn bytes(&mut self, _: &'static str, _: &[u8]) -> fmt::Result {
        Ok(())
    }
}
