//! The GitHub App server.

/// Runs `serve` with its configuration from the environment.
pub async fn serve_from_env(_listen: Option<String>) -> anyhow::Result<()> {
    anyhow::bail!("the server is not built yet")
}
