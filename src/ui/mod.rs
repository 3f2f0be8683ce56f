//! The terminal: the one layer that writes to it. `render` draws tables,
//! JSON, doctor's checklist and plans onto any `io::Write`; `reporter`
//! says on stderr what the use cases report; `picker` lets a person choose
//! one of several candidates (or `BERTH_PICKER` does) and restores the
//! terminal on every way out; `term` holds the terminal in raw mode while a
//! Session Manager session runs.

pub mod picker;
pub mod render;
pub mod reporter;
pub mod term;
