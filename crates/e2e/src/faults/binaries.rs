//! The four services' executables, built by cargo from this checkout once per test process, so a
//! fault always hits the code under test and never a binary left over from an earlier build.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OnceCell;

const PACKAGES: [&str; 4] = ["tocsin-ingest", "tocsin-incident-core", "tocsin-query", "tocsin-notifier"];
/// A cold debug build of the workspace on two cores; a warm one takes a second.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub struct Binaries {
    pub ingest: PathBuf,
    pub incident_core: PathBuf,
    pub query: PathBuf,
    pub notifier: PathBuf,
}

static BUILT: OnceCell<Binaries> = OnceCell::const_new();

/// The services' binaries, built first if they are missing or stale.
pub async fn service_binaries() -> &'static Binaries {
    BUILT.get_or_init(build).await
}

/// `cargo build -p tocsin-ingest -p tocsin-incident-core -p tocsin-query -p tocsin-notifier`: the
/// command `make run` and `scripts/web-e2e.sh` run, so all three share one build (the same feature
/// set) and whichever runs second finds nothing to do. The profile is the test's own.
async fn build() -> Binaries {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = tokio::process::Command::new(env!("CARGO"));
    command.current_dir(&workspace).args([
        "build",
        "--message-format=json-render-diagnostics",
        "--profile",
        &profile(),
    ]);
    for package in PACKAGES {
        command.args(["-p", package]);
    }
    let output = match tokio::time::timeout(BUILD_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => panic!("running cargo build for the service binaries: {error}"),
        Err(_) => panic!("cargo build of the service binaries took longer than {BUILD_TIMEOUT:?}"),
    };
    if !output.status.success() {
        panic!("cargo build of the service binaries failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    // One JSON message per line; each built executable is a `compiler-artifact` naming it.
    let mut executables: HashMap<String, PathBuf> = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let (Some(name), Some(path)) = (message["target"]["name"].as_str(), message["executable"].as_str()) {
            executables.insert(name.to_owned(), PathBuf::from(path));
        }
    }
    let mut take = |name: &str| {
        executables.remove(name).unwrap_or_else(|| panic!("cargo build reported no executable for {name}"))
    };
    Binaries {
        ingest: take("tocsin-ingest"),
        incident_core: take("tocsin-incident-core"),
        query: take("tocsin-query"),
        notifier: take("tocsin-notifier"),
    }
}

/// The cargo profile this test was built with, read from where it runs:
/// `<target>/<profile directory>/deps/<test>`.
fn profile() -> String {
    let executable = std::env::current_exe().expect("the test's own path");
    let directory = executable.parent().and_then(Path::parent).and_then(Path::file_name).and_then(|name| name.to_str());
    match directory {
        Some("debug") | None => "dev".to_owned(),
        Some(profile) => profile.to_owned(),
    }
}
