//! The four binaries' command lines, as an operator meets them: settings are environment
//! variables, so `--help` says where they are documented; incident-core's subcommands are listed;
//! the other services take no arguments and refuse any rather than ignore them.

use std::path::Path;
use std::process::{Command, Output};
use tocsin_e2e::faults::service_binaries;

fn run(binary: &Path, args: &[&str]) -> Output {
    // No environment: were an argument taken for a go-ahead, the service would stop at its first
    // missing variable rather than run.
    Command::new(binary)
        .args(args)
        .env_clear()
        .output()
        .unwrap_or_else(|error| panic!("running {} {args:?}: {error}", binary.display()))
}

fn said(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn help_names_each_binary_and_where_its_settings_are() {
    let binaries = service_binaries().await;
    for (name, binary) in [
        ("tocsin-ingest", &binaries.ingest),
        ("tocsin-incident-core", &binaries.incident_core),
        ("tocsin-query", &binaries.query),
        ("tocsin-notifier", &binaries.notifier),
    ] {
        let help = run(binary, &["--help"]);
        assert!(help.status.success(), "{name} --help: {}", said(&help));
        assert!(said(&help).contains(&format!("Usage: {name}")), "{name} --help: {}", said(&help));
        assert!(said(&help).contains("docs/configuration.md"), "{name} --help: {}", said(&help));
    }
    let help = said(&run(&binaries.incident_core, &["--help"]));
    for subcommand in ["serve", "migrate", "archive", "restore"] {
        assert!(help.lines().any(|line| line.trim_start().starts_with(subcommand)), "{subcommand} in:\n{help}");
    }
}

#[tokio::test]
async fn services_without_subcommands_refuse_arguments() {
    let binaries = service_binaries().await;
    for binary in [&binaries.ingest, &binaries.query, &binaries.notifier] {
        let refused = run(binary, &["serve"]);
        assert_eq!(refused.status.code(), Some(2), "{}: {}", binary.display(), said(&refused));
        assert!(said(&refused).contains("unexpected argument 'serve'"), "{}: {}", binary.display(), said(&refused));
    }
}
