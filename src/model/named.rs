//! Settings with a fixed set of values, each spelt one way on the command
//! line, in `BERTH_*` variables and in the config file. One table per type
//! ([`Named::ALL`]) gives the spellings and their help; parsing, display
//! and the error that lists what is accepted are written once, here.

use std::fmt;

/// A type whose values are a fixed list of names.
pub trait Named: Copy + PartialEq + 'static {
    /// What the value is, for messages (`--via` takes "a route").
    const WHAT: &'static str;
    /// Every value, its name, and one line of help.
    const ALL: &'static [(Self, &'static str, &'static str)];

    /// The value's name, as written.
    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(value, ..)| *value == self)
            .map_or("", |(_, name, _)| name)
    }

    /// The value named `text` (in any case).
    fn from_name(text: &str) -> Result<Self, UnknownName> {
        let text = text.trim();
        Self::ALL
            .iter()
            .find(|(_, name, _)| name.eq_ignore_ascii_case(text))
            .map(|(value, ..)| *value)
            .ok_or_else(|| UnknownName {
                what: Self::WHAT,
                given: text.to_owned(),
                accepted: Self::ALL.iter().map(|(_, name, _)| *name).collect(),
            })
    }
}

/// A name that is none of a type's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub accepted: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not {}: expected one of {}",
            self.given,
            self.what,
            self.accepted.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

/// `FromStr`, `Display` and serde's string form for a [`Named`] type, so
/// that flags, variables and the config file all parse through
/// [`Named::from_name`].
macro_rules! named_text {
    ($type:ty) => {
        impl std::str::FromStr for $type {
            type Err = crate::model::named::UnknownName;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                <$type as crate::model::named::Named>::from_name(text)
            }
        }
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(crate::model::named::Named::name(*self))
            }
        }
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(crate::model::named::Named::name(*self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use named_text;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Colour {
        Red,
        Blue,
    }

    impl Named for Colour {
        const WHAT: &'static str = "a colour";
        const ALL: &'static [(Self, &'static str, &'static str)] =
            &[(Self::Red, "red", "warm"), (Self::Blue, "blue", "cold")];
    }

    #[test]
    fn names_parse_in_any_case_and_the_error_lists_them() {
        assert_eq!(Colour::from_name("red"), Ok(Colour::Red));
        assert_eq!(Colour::from_name(" BLUE "), Ok(Colour::Blue));
        assert_eq!(Colour::Blue.name(), "blue");
        let err = Colour::from_name("green").expect_err("not a colour");
        assert_eq!(
            err.to_string(),
            "`green` is not a colour: expected one of red, blue"
        );
    }
}
