//! How a REST API's resource policy and the method's authorization decide together, as
//! "How API Gateway resource policies affect authorization workflow" in the API Gateway
//! developer guide documents it, and the 403 messages API Gateway sends.
//!
//! - No authorization + resource policy: the resource policy must explicitly allow; an
//!   implicit or explicit deny refuses.
//! - Lambda authorizer + resource policy: first, before the authorizer is called (or its
//!   cache consulted), an explicit deny in the resource policy refuses at once
//!   ([`before_authorizer`]); then the authorizer's policy and the resource policy decide by
//!   Table A ([`combine`]).
//! - IAM + resource policy: Table A when the caller is in the API owner's account (either
//!   may allow, an explicit deny in either refuses), Table B across accounts (both must
//!   allow).
//! - Cognito user pools (JWT) + resource policy: once the token is verified, the resource
//!   policy is evaluated on its own and must explicitly allow (the guide's section on
//!   Cognito and its flowchart; the parenthesis of Table A naming Cognito authorizers says
//!   otherwise, and we follow the section written for Cognito, where a verified token is not
//!   an IAM allow).
//!
//! Table A (same account):                     Table B (cross-account):
//!
//! | identity \ resource | Allow | None  | Deny  |   | Allow | None  | Deny  |
//! |---------------------|-------|-------|-------|---|-------|-------|-------|
//! | Allow               | Allow | Allow | Deny! |   | Allow | Deny  | Deny! |
//! | None                | Allow | Deny  | Deny! |   | Deny  | Deny  | Deny! |
//! | Deny                | Deny! | Deny! | Deny! |   | Deny! | Deny! | Deny! |
//!
//! (`Deny!` explicit, `Deny` implicit.) An API without a resource policy is a resource
//! policy that neither allows nor denies for IAM and Lambda authorizers (so a cross-account
//! IAM caller needs one), and no check at all without authorization or with Cognito.

use super::Decision;

/// The method's authorization, and what it decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// `NONE`: no authorizer; the resource policy alone decides.
    None,
    /// `AWS_IAM`: the caller's identity policies' decision, and whether the caller is in
    /// the account that owns the API.
    Iam {
        identity: Decision,
        same_account: bool,
    },
    /// A Lambda authorizer (TOKEN or REQUEST): its returned policy's decision for this
    /// request's method ARN.
    Lambda(Decision),
    /// `COGNITO_USER_POOLS` (a JWT authorizer): the token was verified (a failure is a 401
    /// before any policy is looked at).
    Cognito,
}

/// Which of API Gateway's 403 texts a denial uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialText {
    /// `User: {anonymous|caller ARN} is not authorized to perform: {action} on resource:
    /// {ARN}` (a resource policy's denial, or an IAM caller's).
    Caller,
    /// `User is not authorized to access this resource` (a Lambda authorizer's policy).
    Authorizer,
}

/// A refusal: 403 with API Gateway's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    pub text: DenialText,
    /// An explicit deny: the message ends with ` with an explicit deny`.
    pub explicit: bool,
}

/// The final word on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny(Denial),
}

impl Outcome {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Outcome::Allow)
    }
}

impl Denial {
    const fn caller(explicit: bool) -> Denial {
        Denial {
            text: DenialText::Caller,
            explicit,
        }
    }

    const fn authorizer(explicit: bool) -> Denial {
        Denial {
            text: DenialText::Authorizer,
            explicit,
        }
    }

    /// Appends the `message` of the 403 body to `out`: `caller_arn` is the IAM caller's ARN
    /// (`None`: `anonymous`), `action` usually `execute-api:Invoke`, `resource` the method
    /// ARN. The text is not JSON-escaped (the ARN holds the request's path).
    ///
    /// - `User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:...`
    /// - the same ending ` with an explicit deny`, or with the caller's ARN for `anonymous`;
    /// - `User is not authorized to access this resource` (a Lambda authorizer's policy),
    ///   also ending ` with an explicit deny`.
    pub fn write_message(
        &self,
        out: &mut String,
        caller_arn: Option<&str>,
        action: &str,
        resource: &str,
    ) {
        match self.text {
            DenialText::Caller => {
                out.push_str("User: ");
                out.push_str(caller_arn.unwrap_or("anonymous"));
                out.push_str(" is not authorized to perform: ");
                out.push_str(action);
                out.push_str(" on resource: ");
                out.push_str(resource);
            }
            DenialText::Authorizer => {
                out.push_str("User is not authorized to access this resource")
            }
        }
        if self.explicit {
            out.push_str(" with an explicit deny");
        }
    }

    /// [`Denial::write_message`] into a new string.
    pub fn message(&self, caller_arn: Option<&str>, action: &str, resource: &str) -> String {
        let mut out = String::new();
        self.write_message(&mut out, caller_arn, action, resource);
        out
    }
}

/// The check API Gateway makes before calling a Lambda authorizer: an explicit deny in the
/// resource policy (evaluated with no caller) refuses at once, without the call.
pub fn before_authorizer(resource_policy: Option<Decision>) -> Option<Denial> {
    (resource_policy == Some(Decision::ExplicitDeny)).then_some(Denial::caller(true))
}

/// Table A: either may allow; an explicit deny in either wins.
fn table_a(identity: Decision, resource: Decision) -> Decision {
    use Decision::*;
    match (identity, resource) {
        (ExplicitDeny, _) | (_, ExplicitDeny) => ExplicitDeny,
        (Allow, _) | (_, Allow) => Allow,
        (NoMatch, NoMatch) => NoMatch,
    }
}

/// Table B: both must allow; an explicit deny in either wins.
fn table_b(identity: Decision, resource: Decision) -> Decision {
    use Decision::*;
    match (identity, resource) {
        (ExplicitDeny, _) | (_, ExplicitDeny) => ExplicitDeny,
        (Allow, Allow) => Allow,
        _ => NoMatch,
    }
}

/// The resource policy's decision (`None`: the API has none) and the authorization's,
/// combined as API Gateway documents (see the module documentation), with the message a
/// denial carries.
pub fn combine(resource_policy: Option<Decision>, authorization: Authorization) -> Outcome {
    use Decision::*;
    match authorization {
        Authorization::None | Authorization::Cognito => match resource_policy {
            None | Some(Allow) => Outcome::Allow,
            Some(NoMatch) => Outcome::Deny(Denial::caller(false)),
            Some(ExplicitDeny) => Outcome::Deny(Denial::caller(true)),
        },
        Authorization::Iam {
            identity,
            same_account,
        } => {
            let resource = resource_policy.unwrap_or(NoMatch);
            let decided = if same_account {
                table_a(identity, resource)
            } else {
                table_b(identity, resource)
            };
            match decided {
                Allow => Outcome::Allow,
                NoMatch => Outcome::Deny(Denial::caller(false)),
                ExplicitDeny => Outcome::Deny(Denial::caller(true)),
            }
        }
        Authorization::Lambda(authorizer) => {
            let resource = resource_policy.unwrap_or(NoMatch);
            match table_a(authorizer, resource) {
                Allow => Outcome::Allow,
                // The resource policy's explicit deny speaks first (it is the one checked
                // before the authorizer is called).
                ExplicitDeny if resource == ExplicitDeny => Outcome::Deny(Denial::caller(true)),
                ExplicitDeny => Outcome::Deny(Denial::authorizer(true)),
                NoMatch => Outcome::Deny(Denial::authorizer(false)),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use Decision::*;

    const ALLOW: Outcome = Outcome::Allow;
    const CALLER_IMPLICIT: Outcome = Outcome::Deny(Denial::caller(false));
    const CALLER_EXPLICIT: Outcome = Outcome::Deny(Denial::caller(true));
    const LAMBDA_IMPLICIT: Outcome = Outcome::Deny(Denial::authorizer(false));
    const LAMBDA_EXPLICIT: Outcome = Outcome::Deny(Denial::authorizer(true));

    fn iam(identity: Decision, same_account: bool) -> Authorization {
        Authorization::Iam {
            identity,
            same_account,
        }
    }

    #[test]
    fn table_a_iam_same_account() {
        // The guide's Table A, row by row: (IAM user policy, resource policy) -> result.
        let rows = [
            (Allow, Allow, ALLOW),
            (Allow, NoMatch, ALLOW),
            (Allow, ExplicitDeny, CALLER_EXPLICIT),
            (NoMatch, Allow, ALLOW),
            (NoMatch, NoMatch, CALLER_IMPLICIT),
            (NoMatch, ExplicitDeny, CALLER_EXPLICIT),
            (ExplicitDeny, Allow, CALLER_EXPLICIT),
            (ExplicitDeny, NoMatch, CALLER_EXPLICIT),
            (ExplicitDeny, ExplicitDeny, CALLER_EXPLICIT),
        ];
        for (identity, resource, want) in rows {
            assert_eq!(
                combine(Some(resource), iam(identity, true)),
                want,
                "IAM {identity:?} + resource policy {resource:?}"
            );
        }
    }

    #[test]
    fn table_b_iam_cross_account() {
        let rows = [
            (Allow, Allow, ALLOW),
            (Allow, NoMatch, CALLER_IMPLICIT),
            (Allow, ExplicitDeny, CALLER_EXPLICIT),
            (NoMatch, Allow, CALLER_IMPLICIT),
            (NoMatch, NoMatch, CALLER_IMPLICIT),
            (NoMatch, ExplicitDeny, CALLER_EXPLICIT),
            (ExplicitDeny, Allow, CALLER_EXPLICIT),
            (ExplicitDeny, NoMatch, CALLER_EXPLICIT),
            (ExplicitDeny, ExplicitDeny, CALLER_EXPLICIT),
        ];
        for (identity, resource, want) in rows {
            assert_eq!(
                combine(Some(resource), iam(identity, false)),
                want,
                "cross-account IAM {identity:?} + resource policy {resource:?}"
            );
        }
    }

    #[test]
    fn iam_without_resource_policy() {
        // Same account: the identity policies alone.
        assert_eq!(combine(None, iam(Allow, true)), ALLOW);
        assert_eq!(combine(None, iam(NoMatch, true)), CALLER_IMPLICIT);
        assert_eq!(combine(None, iam(ExplicitDeny, true)), CALLER_EXPLICIT);
        // Across accounts a resource policy must allow too: without one, nothing does.
        assert_eq!(combine(None, iam(Allow, false)), CALLER_IMPLICIT);
        assert_eq!(combine(None, iam(NoMatch, false)), CALLER_IMPLICIT);
        assert_eq!(combine(None, iam(ExplicitDeny, false)), CALLER_EXPLICIT);
    }

    #[test]
    fn table_a_lambda_authorizer() {
        // Table A with a Lambda authorizer's policy in the identity column; the message
        // says who refused.
        let rows = [
            (Allow, Allow, ALLOW),
            (Allow, NoMatch, ALLOW),
            (Allow, ExplicitDeny, CALLER_EXPLICIT),
            (NoMatch, Allow, ALLOW),
            (NoMatch, NoMatch, LAMBDA_IMPLICIT),
            (NoMatch, ExplicitDeny, CALLER_EXPLICIT),
            (ExplicitDeny, Allow, LAMBDA_EXPLICIT),
            (ExplicitDeny, NoMatch, LAMBDA_EXPLICIT),
            (ExplicitDeny, ExplicitDeny, CALLER_EXPLICIT),
        ];
        for (authorizer, resource, want) in rows {
            assert_eq!(
                combine(Some(resource), Authorization::Lambda(authorizer)),
                want,
                "Lambda {authorizer:?} + resource policy {resource:?}"
            );
        }
    }

    #[test]
    fn lambda_without_resource_policy() {
        assert_eq!(combine(None, Authorization::Lambda(Allow)), ALLOW);
        assert_eq!(
            combine(None, Authorization::Lambda(NoMatch)),
            LAMBDA_IMPLICIT
        );
        assert_eq!(
            combine(None, Authorization::Lambda(ExplicitDeny)),
            LAMBDA_EXPLICIT
        );
    }

    #[test]
    fn lambda_pre_authorizer_phase() {
        assert_eq!(before_authorizer(None), None);
        assert_eq!(before_authorizer(Some(Allow)), None);
        assert_eq!(
            before_authorizer(Some(NoMatch)),
            None,
            "only an explicit deny stops early"
        );
        assert_eq!(
            before_authorizer(Some(ExplicitDeny)),
            Some(Denial::caller(true))
        );
    }

    #[test]
    fn cognito_needs_an_explicit_allow() {
        assert_eq!(combine(Some(Allow), Authorization::Cognito), ALLOW);
        assert_eq!(
            combine(Some(NoMatch), Authorization::Cognito),
            CALLER_IMPLICIT
        );
        assert_eq!(
            combine(Some(ExplicitDeny), Authorization::Cognito),
            CALLER_EXPLICIT
        );
        assert_eq!(combine(None, Authorization::Cognito), ALLOW);
    }

    #[test]
    fn resource_policy_only() {
        assert_eq!(combine(Some(Allow), Authorization::None), ALLOW);
        assert_eq!(combine(Some(NoMatch), Authorization::None), CALLER_IMPLICIT);
        assert_eq!(
            combine(Some(ExplicitDeny), Authorization::None),
            CALLER_EXPLICIT
        );
        assert_eq!(combine(None, Authorization::None), ALLOW);
    }

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets";

    #[test]
    fn denial_messages() {
        assert_eq!(
            Denial::caller(false).message(None, "execute-api:Invoke", ARN),
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets"
        );
        assert_eq!(
            Denial::caller(true).message(None, "execute-api:Invoke", ARN),
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets with an explicit deny"
        );
        assert_eq!(
            Denial::caller(true).message(
                Some("arn:aws:iam::123456789012:user/alice"),
                "execute-api:Invoke",
                ARN
            ),
            "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: \
             execute-api:Invoke on resource: \
             arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets with an explicit deny"
        );
        assert_eq!(
            Denial::caller(false).message(None, "execute-api:InvalidateCache", ARN),
            "User: anonymous is not authorized to perform: execute-api:InvalidateCache on \
             resource: arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets"
        );
        assert_eq!(
            Denial::authorizer(true).message(Some("ignored"), "execute-api:Invoke", ARN),
            "User is not authorized to access this resource with an explicit deny"
        );
        assert_eq!(
            Denial::authorizer(false).message(None, "execute-api:Invoke", ARN),
            "User is not authorized to access this resource"
        );
        let mut out = String::from("{\"message\":\"");
        Denial::authorizer(false).write_message(&mut out, None, "execute-api:Invoke", ARN);
        assert_eq!(
            out,
            "{\"message\":\"User is not authorized to access this resource"
        );
    }
}
