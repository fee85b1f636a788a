use clap::Parser;
use log_gardener::cli::{Cli, run};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    log_gardener::logging::init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may quote what it failed on: masked like everything else printed.
            let message = log_gardener::analyze::redact::Redactor::default();
            eprintln!("error: {}", message.redact(&format!("{e:#}")));
            ExitCode::from(log_gardener::error::exit_code(&e))
        }
    }
}
