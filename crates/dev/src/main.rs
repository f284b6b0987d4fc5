//! `natgw-dev`, the developer tool that `cargo run` starts at the top of the workspace: the demo,
//! the simulators as a server, the scale benchmark, and the CRD files. It drives the operator (in process for the
//! demo, as the `natgw-operator` binary for the benchmark) and is never shipped with it.

mod bench;
mod crd;
mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "natgw-operator's demo, cloud simulators and benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a real API server, both cloud simulators and the operator, and show three changes.
    Demo(demo::DemoArgs),
    /// Serve the Tencent and Huawei cloud simulators.
    Sim(natgw_sim::SimArgs),
    /// Scale benchmark: a real API server, the simulators and the `natgw-operator` binary as a
    /// child process; prints its figures (see BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Write the generated NatGateway CRD to crds/, deploy/crd/ and the Helm chart's crds/.
    Crd,
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match Cli::parse().command {
        Command::Demo(args) => demo::run(args).await.map_err(|e| e.to_string()),
        Command::Sim(args) => natgw_sim::run(args).await.map_err(|e| e.to_string()),
        Command::Bench(args) => bench::run(args).await.map_err(|e| e.to_string()),
        Command::Crd => crd::write(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}
