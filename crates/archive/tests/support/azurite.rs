//! Azurite, Microsoft's Azure Storage emulator (npm package `azurite`, installed into
//! `.local/azurite` by `scripts/test-tools.sh`), started per test on a free port with a folder of
//! its own, so the archive is tested against a real Azure Blob Storage API.

#![allow(clippy::expect_used, reason = "test helpers stop at a failed step, saying what was being done")]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Azurite's built-in account and its well-known key (published in Azurite's documentation).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    pub port: u16,
    folder: PathBuf,
    child: Child,
}

fn binary() -> PathBuf {
    match std::env::var_os("TOCSIN_TEST_AZURITE_BLOB") {
        Some(path) => PathBuf::from(path),
        None => {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.local/azurite/node_modules/.bin/azurite-blob"))
        }
    }
}

impl Azurite {
    pub async fn start() -> Azurite {
        let binary = binary();
        assert!(
            binary.exists(),
            "azurite-blob is not at {}: run scripts/test-tools.sh, which installs the Azure Storage emulator into \
             .local/azurite (or set TOCSIN_TEST_AZURITE_BLOB to an azurite-blob binary)",
            binary.display()
        );
        let folder = std::env::temp_dir().join(format!("tocsin-azurite-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&folder).unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
        let mut child = Command::new(&binary)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--skipApiVersionCheck", "--loose", "--silent"])
            .arg("--location")
            .arg(&folder)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", binary.display()));
        let Some(stdout) = child.stdout.take() else { panic!("azurite's output is not piped") };
        let mut lines = BufReader::new(stdout).lines();
        // "Azurite Blob service successfully listens on http://127.0.0.1:34527"
        let port = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, address)) = line.split_once("successfully listens on http://127.0.0.1:") {
                    return address.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("azurite-blob did not say which port it listens on within 60 s");
        // Keep reading, so azurite never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Azurite { port, folder, child }
    }

    /// The account's blob endpoint, path-style as Azurite serves it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The `object_store` options for this emulator, as the variables `AZURE_STORAGE_ACCOUNT_NAME`,
    /// `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_STORAGE_ENDPOINT` and `AZURE_ALLOW_HTTP` would give them.
    pub fn options(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_STORAGE_ACCOUNT_NAME".into(), ACCOUNT.into()),
            ("AZURE_STORAGE_ACCOUNT_KEY".into(), KEY.into()),
            ("AZURE_STORAGE_ENDPOINT".into(), self.endpoint()),
            ("AZURE_ALLOW_HTTP".into(), "true".into()),
        ]
    }

    /// Creates a container (Terraform does it for a real account), signed with the account key.
    pub async fn create_container(&self, name: &str) {
        let date = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .expect("format");
        let version = "2021-08-06";
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let key = STANDARD.decode(KEY).expect("decode");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("new from slice");
        mac.update(string_to_sign.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        let response = reqwest::Client::new()
            .put(format!("{}/{name}?restype=container", self.endpoint()))
            .header("x-ms-date", date)
            .header("x-ms-version", version)
            .header("content-length", "0")
            .header("authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("creating container {name}: {error}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.as_u16() == 201, "creating container {name}: {status} {body}");
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}
