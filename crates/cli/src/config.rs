//! Contexts, as kubectl keeps them: a named tocsin (its URL) with the token to call it with, and
//! which one is current. One YAML file, readable by its owner only, since it holds tokens:
//! `--config`, else `TOCSIN_CONFIG`, else `$XDG_CONFIG_HOME/tocsin/config.yaml`, else
//! `~/.config/tocsin/config.yaml`.

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use url::Url;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Context {
    pub url: Url,
    pub token: String,
}

/// Where the configuration lives when `--config` and `TOCSIN_CONFIG` say nothing.
pub fn default_path() -> anyhow::Result<PathBuf> {
    if let Some(base) = std::env::var_os("XDG_CONFIG_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(base).join("tocsin/config.yaml"));
    }
    match std::env::var_os("HOME").filter(|value| !value.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config/tocsin/config.yaml")),
        None => bail!("neither XDG_CONFIG_HOME nor HOME is set: say where the configuration goes with --config"),
    }
}

impl Config {
    /// The file's contexts; none when there is no file yet.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{} is not a tocsin configuration; fix or remove it", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the file, creating its folder; only its owner may read it (it holds tokens).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(folder) = path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
        }
        let text = serde_yaml_ng::to_string(self)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The context `name` names, else the current one.
    pub fn context(&self, name: Option<&str>) -> anyhow::Result<(String, Context)> {
        let Some(name) = name.or(self.current_context.as_deref()) else {
            bail!("no context: log in first with `tocsin login --url https://tocsin.example.com` (the token on stdin)");
        };
        match self.contexts.get(name) {
            Some(context) => Ok((name.to_owned(), context.clone())),
            None => {
                let known: Vec<&str> = self.contexts.keys().map(String::as_str).collect();
                bail!(
                    "no context named `{name}` (known: {}); log in to it with `tocsin login --name {name} --url …`",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                )
            }
        }
    }
}
