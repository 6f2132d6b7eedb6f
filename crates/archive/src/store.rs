//! The archive's objects: where the rows of one table and day live, what an object holds (the
//! rows as JSON lines, gzip-compressed, sorted by primary key), and how writing a day again merges
//! with what the archive already holds, so no write ever loses an archived row.

use crate::ArchiveError;
use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use time::Date;
use tocsin_storage::archive::ArchivedTable;
use url::Url;

/// Where archives go: a local folder, an Azure Blob Storage container or an S3 bucket, with a
/// prefix inside it.
#[derive(Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    location: String,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("location", &self.location).finish_non_exhaustive()
    }
}

/// One object written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenObject {
    pub table: ArchivedTable,
    pub day: Date,
    pub path: String,
    /// Rows in the object, those archived before included.
    pub rows: usize,
    pub bytes: usize,
}

const URL_FORMS: &str = "expected file:///path/to/folder, az://container/prefix, azure://container/prefix, \
     https://<account>.blob.core.windows.net/container/prefix or s3://bucket/prefix";

impl Archive {
    /// The archive at `url`. `options` configure the store the way `object_store` reads them
    /// (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_FEDERATED_TOKEN_FILE`, `AWS_REGION`, …, in any case);
    /// options that do not apply to the URL's kind of store are ignored.
    pub fn open<I, K, V>(url: &str, options: I) -> Result<Archive, ArchiveError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let bad = |reason: String| ArchiveError::BadUrl { url: redact(url), reason };
        let parsed = Url::parse(url.trim()).map_err(|error| bad(format!("{error}; {URL_FORMS}")))?;
        if parsed.scheme() == "file" && parsed.path().trim_matches('/').is_empty() {
            return Err(bad(format!("a local archive needs a folder other than /; {URL_FORMS}")));
        }
        let (store, prefix) =
            object_store::parse_url_opts(&parsed, options).map_err(|error| bad(format!("{error}; {URL_FORMS}")))?;
        Ok(Archive { store: Arc::from(store), prefix, location: redact(url) })
    }

    /// The archive's URL, without credentials or query, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// `<prefix>/<table>/<YYYY>/<MM>/<DD>/<table>-<YYYY-MM-DD>.jsonl.gz`
    pub fn object_path(&self, table: ArchivedTable, day: Date) -> Path {
        let name =
            format!("{table}/{:04}/{:02}/{:02}/{table}-{day}.jsonl.gz", day.year(), u8::from(day.month()), day.day());
        self.prefix.parts().chain(Path::from(name).parts()).collect()
    }

    /// The rows archived for `table` on `day`, in key order; `None` when nothing was archived.
    pub async fn read_day(&self, table: ArchivedTable, day: Date) -> Result<Option<Vec<String>>, ArchiveError> {
        let path = self.object_path(table, day);
        let compressed = match self.store.get(&path).await {
            Ok(object) => object.bytes().await.map_err(|error| self.unreachable(error))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(self.unreachable(error)),
        };
        let lines = tokio::task::spawn_blocking(move || decode(&compressed))
            .await
            .map_err(|error| ArchiveError::Corrupt { path: path.to_string(), reason: error.to_string() })?
            .map_err(|reason| ArchiveError::Corrupt { path: path.to_string(), reason })?;
        Ok(Some(lines))
    }

    /// Archives `rows` (as [`tocsin_storage::archive`] prints them) of `table` on `day`, together
    /// with the rows already archived for that day: a row in both is written as `rows` has it, a
    /// row only archived before stays. Returns `None` when that changes nothing (no object is
    /// written then), so archiving a day twice writes it once.
    pub async fn write_day(
        &self,
        table: ArchivedTable,
        day: Date,
        rows: Vec<String>,
    ) -> Result<Option<WrittenObject>, ArchiveError> {
        let path = self.object_path(table, day);
        let archived = self.read_day(table, day).await?;
        if rows.is_empty() && archived.is_none() {
            return Ok(None);
        }
        let archived = archived.unwrap_or_default();
        let object_path = path.to_string();
        let merged = tokio::task::spawn_blocking(move || -> Result<Option<(usize, Vec<u8>)>, String> {
            let merged = merge(table, &archived, rows)?;
            if merged == archived {
                return Ok(None);
            }
            Ok(Some((merged.len(), encode(&merged)?)))
        })
        .await
        .map_err(|error| ArchiveError::Corrupt { path: object_path.clone(), reason: error.to_string() })?
        .map_err(|reason| ArchiveError::Corrupt { path: object_path.clone(), reason })?;
        let Some((row_count, compressed)) = merged else {
            return Ok(None);
        };
        let bytes = compressed.len();
        self.store.put(&path, Bytes::from(compressed).into()).await.map_err(|error| self.unreachable(error))?;
        Ok(Some(WrittenObject { table, day, path: object_path, rows: row_count, bytes }))
    }

    /// Whether the store answers (and, for a cloud store, the credentials are accepted): lists one
    /// object under the prefix.
    pub async fn check(&self) -> Result<(), ArchiveError> {
        use futures_util::StreamExt;
        match self.store.list(Some(&self.prefix)).next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(error)) => Err(self.unreachable(error)),
        }
    }

    fn unreachable(&self, source: object_store::Error) -> ArchiveError {
        ArchiveError::Store { location: self.location.clone(), source }
    }
}

/// The URL without user, password or query (a SAS token), for messages.
fn redact(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => url.split('?').next().unwrap_or_default().to_owned(),
    }
}

/// A primary key value, ordered the way the database orders it: numbers as numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum KeyPart {
    Number(i64),
    Text(String),
}

fn key_of(table: ArchivedTable, row: &str) -> Result<Vec<KeyPart>, String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(row).map_err(|error| format!("a row of {table} is not a JSON object: {error}"))?;
    table
        .key_columns()
        .iter()
        .map(|column| match object.get(*column) {
            Some(serde_json::Value::Number(number)) => {
                number.as_i64().map(KeyPart::Number).ok_or_else(|| format!("a row of {table} has {column} {number}"))
            }
            Some(serde_json::Value::String(text)) => Ok(KeyPart::Text(text.clone())),
            other => Err(format!("a row of {table} has no usable {column}: {other:?}")),
        })
        .collect()
}

/// The union of `archived` and `fresh` by primary key, `fresh` winning, sorted by key.
fn merge(table: ArchivedTable, archived: &[String], fresh: Vec<String>) -> Result<Vec<String>, String> {
    let mut rows = BTreeMap::new();
    for row in archived.iter().cloned().chain(fresh) {
        rows.insert(key_of(table, &row)?, row);
    }
    Ok(rows.into_values().collect())
}

fn encode(rows: &[String]) -> Result<Vec<u8>, String> {
    // No name and a zero time in the gzip header: the same rows always compress to the same bytes.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for row in rows {
        encoder.write_all(row.as_bytes()).map_err(|error| error.to_string())?;
        encoder.write_all(b"\n").map_err(|error| error.to_string())?;
    }
    encoder.finish().map_err(|error| error.to_string())
}

fn decode(compressed: &[u8]) -> Result<Vec<String>, String> {
    let mut text = String::new();
    GzDecoder::new(compressed)
        .read_to_string(&mut text)
        .map_err(|error| format!("not gzip-compressed text: {error}"))?;
    Ok(text.lines().filter(|line| !line.is_empty()).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn local(dir: &str) -> Archive {
        Archive::open(&format!("file://{dir}"), std::iter::empty::<(&str, &str)>()).expect("Archive::open")
    }

    #[test]
    fn objects_are_named_by_prefix_table_and_day() {
        let archive = local("/var/lib/tocsin/archive");
        assert_eq!(
            archive.object_path(ArchivedTable::TimelineEntries, date!(2026 - 03 - 07)).to_string(),
            "var/lib/tocsin/archive/timeline_entries/2026/03/07/timeline_entries-2026-03-07.jsonl.gz"
        );
        let azure = Archive::open("az://archive/tocsin/prod", [("azure_storage_account_name", "tocsinprod")])
            .expect("Archive::open");
        assert_eq!(
            azure.object_path(ArchivedTable::Incidents, date!(2026 - 11 - 28)).to_string(),
            "tocsin/prod/incidents/2026/11/28/incidents-2026-11-28.jsonl.gz"
        );
        // The chart's form: the account in the host, the container first in the path.
        let https = Archive::open(
            "https://tocsinprod.blob.core.windows.net/archive/tocsin",
            std::iter::empty::<(&str, &str)>(),
        )
        .expect("Archive::open");
        assert_eq!(
            https.object_path(ArchivedTable::Alerts, date!(2026 - 11 - 28)).to_string(),
            "tocsin/alerts/2026/11/28/alerts-2026-11-28.jsonl.gz"
        );
        let s3 = Archive::open("s3://tocsin-archive/prod", [("AWS_REGION", "eu-west-1")]).expect("Archive::open");
        assert_eq!(
            s3.object_path(ArchivedTable::CommandOutcomes, date!(2026 - 01 - 02)).to_string(),
            "prod/command_outcomes/2026/01/02/command_outcomes-2026-01-02.jsonl.gz"
        );
    }

    #[test]
    fn a_url_that_names_no_store_is_refused_with_the_forms_that_work() {
        for url in ["/var/lib/tocsin", "ftp://host/dir", "file:///"] {
            let error = Archive::open(url, std::iter::empty::<(&str, &str)>()).err().map(|e| e.to_string());
            let error = error.unwrap_or_default();
            assert!(error.starts_with(&format!("archive URL `{url}` is not usable: ")), "{error}");
            assert!(error.contains("expected file:///path/to/folder, az://container/prefix"), "{error}");
        }
    }

    #[test]
    fn credentials_in_a_url_stay_out_of_messages() {
        assert_eq!(
            redact("https://acct.blob.core.windows.net/archive/tocsin?sv=2022&sig=SECRET"),
            "https://acct.blob.core.windows.net/archive/tocsin"
        );
        assert_eq!(redact("s3://user:pass@bucket/prefix"), "s3://bucket/prefix");
    }

    #[test]
    fn merging_keeps_archived_rows_takes_fresh_ones_and_sorts_by_key() {
        let archived =
            vec![r#"{"id": 2, "state": "firing"}"#.to_owned(), r#"{"id": 10, "state": "firing"}"#.to_owned()];
        let fresh = vec![r#"{"id": 9, "state": "firing"}"#.to_owned(), r#"{"id": 10, "state": "resolved"}"#.to_owned()];
        let merged = merge(ArchivedTable::Alerts, &archived, fresh).expect("merge");
        assert_eq!(
            merged,
            [
                r#"{"id": 2, "state": "firing"}"#,
                r#"{"id": 9, "state": "firing"}"#,
                r#"{"id": 10, "state": "resolved"}"#
            ]
        );
        let threads = vec![
            r#"{"incident_id": "b", "target": "slack"}"#.to_owned(),
            r#"{"incident_id": "a", "target": "teams"}"#.to_owned(),
            r#"{"incident_id": "a", "target": "github"}"#.to_owned(),
        ];
        let merged = merge(ArchivedTable::NotificationThreads, &[], threads).expect("merge");
        assert_eq!(
            merged,
            [
                r#"{"incident_id": "a", "target": "github"}"#,
                r#"{"incident_id": "a", "target": "teams"}"#,
                r#"{"incident_id": "b", "target": "slack"}"#
            ]
        );
        let error = merge(ArchivedTable::Alerts, &[], vec!["{\"state\": 1}".to_owned()]).err().unwrap_or_default();
        assert!(error.starts_with("a row of alerts has no usable id"), "{error}");
    }

    #[test]
    fn the_same_rows_always_compress_to_the_same_bytes_and_back() {
        let rows = vec![r#"{"id": 1, "title": "dîner\nà deux"}"#.to_owned(), r#"{"id": 2}"#.to_owned()];
        let once = encode(&rows).unwrap_or_default();
        assert_eq!(encode(&rows).unwrap_or_default(), once);
        assert_eq!(decode(&once), Ok(rows));
        assert!(decode(b"not gzip").is_err());
    }
}
