//! The use cases: the only code that sequences AWS calls, local state and
//! transport. A connect goes [`resolve`] (the target to its host, the
//! region travelling with it) → [`reach`] (route, bastion, endpoint) →
//! plan (pure, in `plan`) → [`pipeline`] (pre-flight, the session, the
//! diagnosis of a failed connection, clean-up). It speaks to the operator
//! only through the [`Reporter`] and [`Chooser`] that `ui` provides.

pub mod context;
pub mod diagnose;
pub mod eice;
pub mod exec;
pub mod fleet;
pub mod host_keys;
pub mod instance_connect;
pub mod list;
pub mod pipeline;
pub mod ports;
pub mod proxy;
pub mod rdp;
pub mod reach;
pub mod request;
pub mod resolve;
pub mod session;
pub mod ssh_config;
pub mod ssm;
pub mod tunnel;

pub use context::{Choice, Chooser, Context, Countdown, Offer, Progress, Reporter};
pub use resolve::{
    choose, config_user, connect_request, effective_via, find_hosts, find_key, operator_address,
    pick_one, resolve_all, resolve_host, resolve_host_preferring, resolve_one, target_query,
};
