//! moto's S3-compatible server (PyPI `moto[server]`, Apache-2.0, installed into `.local/venv` by
//! `scripts/test-tools.sh`), started per test on a port it picks, in a folder of its own, so the
//! archive is tested against a real S3 API over HTTP.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Moto {
    pub port: u16,
    folder: PathBuf,
    child: Child,
}

fn binary() -> PathBuf {
    match std::env::var_os("TOCSIN_TEST_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/venv/bin/moto_server")),
    }
}

impl Moto {
    pub async fn start() -> Moto {
        let binary = binary();
        assert!(
            binary.exists(),
            "moto_server is not at {}: run scripts/test-tools.sh, which installs moto[server] into .local/venv \
             (or set TOCSIN_TEST_MOTO_SERVER to a moto_server binary)",
            binary.display()
        );
        let folder = std::env::temp_dir().join(format!("tocsin-moto-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&folder).unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
        let mut child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .current_dir(&folder)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
        let Some(stderr) = child.stderr.take() else { panic!("moto's output is not piped") };
        let mut lines = BufReader::new(stderr).lines();
        // Werkzeug's " * Running on http://127.0.0.1:41235", on stderr.
        let port = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, address)) = line.split_once("Running on http://127.0.0.1:") {
                    return address.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("moto_server did not say which port it listens on within 60 s");
        // Keep reading (one line per request), so moto never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Moto { port, folder, child }
    }

    /// The `object_store` options for this server, as the variables `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP`, `AWS_REGION` and the access keys would give them. moto takes any key.
    pub fn options(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT".into(), format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "tocsin-test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "tocsin-test".into()),
        ]
    }

    /// Creates a bucket (Terraform or the provider's console does it for a real one); moto takes
    /// unsigned requests.
    pub async fn create_bucket(&self, name: &str) {
        let response = reqwest::Client::new()
            .put(format!("http://127.0.0.1:{}/{name}", self.port))
            .send()
            .await
            .unwrap_or_else(|error| panic!("creating bucket {name}: {error}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "creating bucket {name}: {status} {body}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
