//! A fact asked for: the answer, or why there is none.

/// A fact berth asked AWS for: the answer, or why there is none (no
/// permission, an API the endpoint does not offer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Known(T),
    Unavailable(String),
}

impl<T> Lookup<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Lookup<U> {
        match self {
            Self::Known(v) => Lookup::Known(f(v)),
            Self::Unavailable(why) => Lookup::Unavailable(why),
        }
    }

    pub fn from_result<E: std::fmt::Display>(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Self::Known(v),
            Err(e) => Self::Unavailable(e.to_string()),
        }
    }
}
