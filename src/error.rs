//! One error story. A [`UserError`] is something the person asked for that cannot be done
//! (bad flags, input or configuration): exit 2 on the command line, the reply to a command in
//! the App. Anything else is a failure: exit 1, or a reply with a reference while the details
//! go to the logs. Both travel as `anyhow::Error`; [`is_user_error`] decides which is which.

/// An error meant for the person who asked, not a bug.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// A user error as an `anyhow::Error`.
pub fn user(message: impl Into<String>) -> anyhow::Error {
    UserError(message.into()).into()
}

/// Whether the error (or what it wraps) is the asker's to fix.
pub fn is_user_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<UserError>())
}

/// The command line's exit status for an error: 2 for the asker's, 1 for a failure.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if is_user_error(e) { 2 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_user_error_stays_one_under_context() {
        let e = Err::<(), _>(user("--since: not a duration"))
            .context("sweep")
            .unwrap_err();
        assert_eq!(exit_code(&e), 2);
        assert_eq!(format!("{e:#}"), "sweep: --since: not a duration");
        let failed = Err::<(), _>(anyhow::anyhow!("connection reset"))
            .context("reading the logs")
            .unwrap_err();
        assert_eq!(exit_code(&failed), 1);
    }
}
