//! The one way an error names its fix.

/// An error that can say what to do next, with the real names filled in
/// (the flag, the file, the command). Every module's error implements it,
/// and `crate::error::Error` gathers the hints once.
pub trait Hint {
    fn hint(&self) -> Option<String>;
}
