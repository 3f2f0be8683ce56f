//! A fact asked for: the answer, or why there is none ([`Lookup`]); and
//! something looked for in the host's VPC only when a route needs it
//! ([`VpcSearch`]).

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

/// Something looked for in the host's VPC (a bastion, an EC2 Instance
/// Connect Endpoint) only when a route needs it: found, not looked for, or
/// none there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcSearch<T> {
    /// Not looked for: no route needed it.
    NotNeeded,
    Found(T),
    /// None in the VPC (none named, for a bastion).
    NoneIn {
        vpc_id: Option<String>,
    },
}

impl<T> VpcSearch<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Self::Found(t) => Some(t),
            Self::NotNeeded | Self::NoneIn { .. } => None,
        }
    }
}

/// What IAM's policy simulator (iam:SimulatePrincipalPolicy) said of a
/// principal and some actions: all allowed, some not (named), or no answer
/// (the simulation itself was refused): never guessed from policy text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Allowed,
    /// The actions the simulator did not allow.
    Denied(Vec<String>),
    /// Why there is no answer.
    Unverified(String),
}
