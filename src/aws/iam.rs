//! IAM's policy simulator and STS's caller identity, for ECS Exec's
//! checks: what a principal may do is asked of IAM
//! (SimulatePrincipalPolicy), never read from policy text.

use super::{Aws, AwsError};
use crate::model::lookup::Permission;

impl Aws {
    /// sts:GetCallerIdentity: the ARN of whoever these credentials are.
    pub async fn caller_arn(&self) -> Result<String, AwsError> {
        let out = self
            .call(
                "sts:GetCallerIdentity",
                self.sts.get_caller_identity().send(),
            )
            .await?;
        Ok(out.arn().unwrap_or_default().to_owned())
    }

    /// iam:SimulatePrincipalPolicy of `principal` (a user or role ARN) for
    /// `actions` on `resource`: allowed when every action is, else the
    /// actions that are not; unverified when the simulation is refused.
    pub async fn simulate(&self, principal: &str, actions: &[&str], resource: &str) -> Permission {
        let request = self
            .iam
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .set_action_names(Some(actions.iter().map(|a| (*a).to_owned()).collect()))
            .resource_arns(resource);
        match self
            .call("iam:SimulatePrincipalPolicy", request.send())
            .await
        {
            Ok(out) => {
                let denied: Vec<String> = out
                    .evaluation_results()
                    .iter()
                    .filter(|r| r.eval_decision().as_str() != "allowed")
                    .map(|r| r.eval_action_name().to_owned())
                    .collect();
                let answered = out.evaluation_results().len();
                if answered < actions.len() && denied.is_empty() {
                    Permission::Unverified(format!(
                        "the simulator answered {answered} of {} actions",
                        actions.len()
                    ))
                } else if denied.is_empty() {
                    Permission::Allowed
                } else {
                    Permission::Denied(denied)
                }
            }
            Err(e) => Permission::Unverified(e.to_string()),
        }
    }
}

/// The IAM principal the simulator takes for an STS caller ARN: an assumed
/// role's session is its role (`arn:aws:sts::A:assumed-role/R/S` →
/// `arn:aws:iam::A:role/R`); users and roles stay as they are.
pub fn principal_of(caller: &str) -> String {
    let Some(rest) = caller.strip_prefix("arn:") else {
        return caller.to_owned();
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    if let [partition, "sts", _, account, resource] = parts.as_slice()
        && let Some(role_session) = resource.strip_prefix("assumed-role/")
    {
        let role = role_session.split('/').next().unwrap_or_default();
        return format!("arn:{partition}:iam::{account}:role/{role}");
    }
    caller.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_is_simulated_as_its_role() {
        assert_eq!(
            principal_of("arn:aws:sts::123456789012:assumed-role/Admin/me@example.com"),
            "arn:aws:iam::123456789012:role/Admin"
        );
        assert_eq!(
            principal_of("arn:aws-cn:sts::1:assumed-role/R/s"),
            "arn:aws-cn:iam::1:role/R"
        );
        assert_eq!(
            principal_of("arn:aws:iam::123456789012:user/moto"),
            "arn:aws:iam::123456789012:user/moto"
        );
    }
}
