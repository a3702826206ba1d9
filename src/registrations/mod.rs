//! Every registration the driver makes, one file per family, all through
//! one pattern: [`guard`] (`Registration<R>` + `RegistrationOps`, the only
//! writer of the [`report`]).
//!
//! Families: [`ps`], [`ob`], [`cm`], [`ke`], [`io`], [`shutdown`], [`po`],
//! [`whea`], [`hal`], [`ex`] + [`callback_objects`] (callback objects and
//! the driver's observers), [`drain_thread`] (the pipeline's system thread).
//! [`callback_map`] and [`walker`] read the `\Callback` directory and the
//! objects' registration lists for the control device. Arrows: these files
//! use `kernel`, `pipeline` and `config::settings`; nothing here imports
//! `control` or `driver`.

pub mod callback_map;
pub mod callback_objects;
pub mod catalog;
pub mod cm;
pub mod drain_thread;
pub mod ex;
pub mod guard;
pub mod hal;
pub mod io;
pub mod ke;
pub mod ob;
pub mod po;
pub mod ps;
pub mod report;
pub mod shutdown;
pub mod table;
pub mod walker;
pub mod whea;
