//! EC2 GetConsoleOutput: what an instance printed on its serial console,
//! where cloud-init prints the SSH host keys at first boot.

use base64::Engine as _;

use super::{Aws, AwsError};

impl Aws {
    /// The instance's console output as text (EC2 sends it base64-encoded;
    /// bytes that are not UTF-8 become U+FFFD). `None` when EC2 has none:
    /// it keeps the last 64 KB posted at a state change, for a while.
    pub async fn console_output(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        let out = self
            .call(
                "ec2:GetConsoleOutput",
                self.ec2
                    .get_console_output()
                    .instance_id(instance_id)
                    .send(),
            )
            .await?;
        let Some(encoded) = out.output().filter(|o| !o.trim().is_empty()) else {
            return Ok(None);
        };
        let cleaned: String = encoded.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map_err(|e| AwsError::Other {
                operation: "ec2:GetConsoleOutput",
                detail: format!("the output is not base64: {e}"),
            })?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
}
