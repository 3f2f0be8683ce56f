//! Logging in with a one-time key: make it, push it with EC2 Instance
//! Connect, and hand its file to ssh. The key file lives as long as the
//! returned [`EphemeralKey`]; the push must come less than
//! [`KEY_LIFETIME`] before ssh logs in, so callers push last, right before
//! they run ssh.

use std::path::PathBuf;

use crate::aws::Aws;
use crate::aws::instance_connect::KEY_LIFETIME;
use crate::error::Error;
use crate::model::host::Host;
use crate::plan::InstanceConnectPush;
use crate::secrets::ephemeral::{EphemeralKey, KeyType};

use super::Context;

/// Makes and pushes the key a plan asks for.
pub async fn push_planned(
    ctx: &Context,
    aws: &Aws,
    push: &InstanceConnectPush,
) -> Result<EphemeralKey, Error> {
    push_key(
        ctx,
        aws,
        &push.instance_id,
        &push.os_user,
        push.availability_zone.as_deref(),
        push.key_type,
    )
    .await
}

/// Makes a one-time key and pushes it for `user` of `host` (any host berth
/// resolved: a target, a bastion); ssh may log in with its file for
/// [`KEY_LIFETIME`].
pub async fn push_ephemeral(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    user: &str,
    key_type: KeyType,
) -> Result<EphemeralKey, Error> {
    push_key(
        ctx,
        aws,
        &host.ec2.instance_id,
        user,
        host.ec2.availability_zone.as_deref(),
        key_type,
    )
    .await
}

async fn push_key(
    ctx: &Context,
    aws: &Aws,
    instance_id: &str,
    user: &str,
    availability_zone: Option<&str>,
    key_type: KeyType,
) -> Result<EphemeralKey, Error> {
    let dir = one_time_key_dir(ctx)?;
    // An RSA key takes a moment to make: off the async workers.
    // (A panic there stays a panic.)
    let key = tokio::task::spawn_blocking(move || EphemeralKey::generate(&dir, key_type))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    // On failure `key` is dropped here, and its file with it.
    ctx.phase(
        "instance-connect",
        aws.send_ssh_public_key(instance_id, user, key.public_openssh(), availability_zone),
    )
    .await?;
    ctx.verbose(&format!(
        "pushed a one-time {} key for {user} to {instance_id} with EC2 Instance Connect \
         (the instance keeps it {}s): {}",
        key.key_type().label(),
        KEY_LIFETIME.as_secs(),
        key.path().display()
    ));
    Ok(key)
}

/// Where one-time keys go: `$XDG_RUNTIME_DIR/berth` (the user's own, a
/// tmpfs on most Linux systems), else berth's state directory.
pub fn one_time_key_dir(ctx: &Context) -> Result<PathBuf, Error> {
    let settings = &ctx.settings;
    settings
        .runtime_dir
        .as_ref()
        .map(|d| d.join("berth"))
        .or_else(|| settings.state_dir.clone())
        .ok_or_else(|| {
            Error::usage(
                "no directory to write a one-time SSH key to".to_owned(),
                "set XDG_RUNTIME_DIR, XDG_STATE_HOME or HOME".to_owned(),
            )
        })
}
