use clap::{Parser, Subcommand};

/// Keeps cloud NAT gateways at the size and billing mode declared in NatGateway resources.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the NatGateway CustomResourceDefinition as YAML.
    Crd,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", natgw_operator::crd_yaml());
            std::process::ExitCode::SUCCESS
        }
    }
}
