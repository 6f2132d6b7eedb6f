//! What the commands print: the API's own JSON (or the same as YAML) for scripts, or a table for
//! people. JSON is printed exactly as the API answered, so `jq` sees every field.

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// Prints a list of incidents.
pub fn incidents(format: Format, items: &[Value], now: OffsetDateTime) -> anyhow::Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(items)? + "\n"),
        Format::Yaml => Ok(serde_yaml_ng::to_string(items)?),
        Format::Table => {
            let mut table = new_table(["ID", "STATUS", "SEVERITY", "SERVICE", "ENVIRONMENT", "TEAM", "AGE", "TITLE"]);
            for incident in items {
                let field = |name: &str| incident[name].as_str().unwrap_or("-").to_owned();
                table.add_row([
                    field("id"),
                    field("status"),
                    field("severity"),
                    field("service"),
                    field("environment"),
                    field("team"),
                    age(&incident["opened_at"], now),
                    field("title"),
                ]);
            }
            Ok(format!("{table}\n"))
        }
    }
}

/// Prints one incident: with its timeline when it has one (`show`).
pub fn incident(format: Format, incident: &Value, now: OffsetDateTime) -> anyhow::Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(incident)? + "\n"),
        Format::Yaml => Ok(serde_yaml_ng::to_string(incident)?),
        Format::Table => {
            let field = |name: &str| incident[name].as_str().unwrap_or("-").to_owned();
            let mut text = format!(
                "{}\n{}  {}  {}/{}  team {}  opened {} ago\n",
                field("title"),
                field("id"),
                field("status"),
                field("service"),
                field("environment"),
                field("team"),
                age(&incident["opened_at"], now)
            );
            for (label, name) in [("severity", "severity"), ("assignee", "assignee"), ("runbook", "runbook_url")] {
                if let Some(value) = incident[name].as_str() {
                    text.push_str(&format!("{label}: {value}\n"));
                }
            }
            if let Some(timeline) = incident["timeline"].as_array() {
                let mut table = new_table(["AT", "WHAT", "STATUS", "BY"]);
                for entry in timeline {
                    let field = |name: &str| entry[name].as_str().unwrap_or("-").to_owned();
                    table.add_row([field("at"), field("kind"), field("status"), field("actor")]);
                }
                text.push_str(&format!("\n{table}\n"));
            }
            Ok(text)
        }
    }
}

/// Prints who is on call: the `items` of `GET /oncall`.
pub fn on_call(format: Format, items: &[Value], now: OffsetDateTime) -> anyhow::Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(items)? + "\n"),
        Format::Yaml => Ok(serde_yaml_ng::to_string(items)?),
        Format::Table => {
            let mut table = new_table(["TEAM", "SCHEDULE", "WHO", "EMAIL", "UNTIL", "LEFT"]);
            for entry in items {
                let value_of = |value: &Value| value.as_str().unwrap_or("-").to_owned();
                let schedule = &entry["schedule"];
                table.add_row([
                    value_of(&schedule["team"]),
                    value_of(&schedule["name"]),
                    entry["user"]["name"].as_str().unwrap_or("nobody").to_owned(),
                    value_of(&entry["user"]["email"]),
                    value_of(&entry["until"]),
                    left(&entry["until"], now),
                ]);
            }
            Ok(format!("{table}\n"))
        }
    }
}

/// Prints a list of schedules: the `items` of `GET /schedules`.
pub fn schedules(format: Format, items: &[Value]) -> anyhow::Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(items)? + "\n"),
        Format::Yaml => Ok(serde_yaml_ng::to_string(items)?),
        Format::Table => {
            let mut table = new_table(["ID", "TEAM", "NAME", "TIME ZONE"]);
            for schedule in items {
                let field = |name: &str| schedule[name].as_str().unwrap_or("-").to_owned();
                table.add_row([field("id"), field("team"), field("name"), field("time_zone")]);
            }
            Ok(format!("{table}\n"))
        }
    }
}

/// Prints one schedule: its layers in force and its overrides to come.
pub fn schedule(format: Format, schedule: &Value) -> anyhow::Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(schedule)? + "\n"),
        Format::Yaml => Ok(serde_yaml_ng::to_string(schedule)?),
        Format::Table => {
            let field = |name: &str| schedule[name].as_str().unwrap_or("-").to_owned();
            let mut text =
                format!("{}\n{}  team {}  {}\n", field("name"), field("id"), field("team"), field("time_zone"));
            let mut layers = new_table(["LAYER", "PRIORITY", "ROTATION", "MEMBERS", "SINCE"]);
            for layer in schedule["layers"].as_array().into_iter().flatten() {
                let count = layer["shift_count"].as_i64().unwrap_or_default();
                let unit = layer["shift_unit"].as_str().unwrap_or("-");
                let unit = if count == 1 { unit.trim_end_matches('s') } else { unit };
                let rotation = format!("every {count} {unit} from {}", layer["first_handoff"].as_str().unwrap_or("-"));
                let members: Vec<&str> = layer["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|user| user["name"].as_str())
                    .collect();
                layers.add_row([
                    layer["id"].as_str().unwrap_or("-").to_owned(),
                    layer["priority"].to_string(),
                    rotation,
                    members.join(", "),
                    layer["effective_from"].as_str().unwrap_or("-").to_owned(),
                ]);
            }
            text.push_str(&format!("\n{layers}\n"));
            let overrides: Vec<&Value> = schedule["overrides"].as_array().into_iter().flatten().collect();
            if !overrides.is_empty() {
                let mut table = new_table(["FROM", "UNTIL", "WHO", "INSTEAD OF"]);
                for overriding in overrides {
                    let value_of = |value: &Value| value.as_str().unwrap_or("-").to_owned();
                    table.add_row([
                        value_of(&overriding["from"]),
                        value_of(&overriding["until"]),
                        value_of(&overriding["user"]["name"]),
                        overriding["replaces"]["name"].as_str().unwrap_or("whoever is on call").to_owned(),
                    ]);
                }
                text.push_str(&format!("\n{table}\n"));
            }
            Ok(text)
        }
    }
}

fn new_table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled).set_header(header);
    table
}

/// How long ago an RFC 3339 time was, the way kubectl says it: 45s, 12m, 3h, 2d.
fn age(at: &Value, now: OffsetDateTime) -> String {
    let Some(at) = at.as_str().and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok()) else {
        return "-".to_owned();
    };
    span((now - at).whole_seconds().max(0))
}

/// How long until an RFC 3339 time, said the same way.
fn left(until: &Value, now: OffsetDateTime) -> String {
    let Some(until) = until.as_str().and_then(|until| OffsetDateTime::parse(until, &Rfc3339).ok()) else {
        return "-".to_owned();
    };
    span((until - now).whole_seconds().max(0))
}

fn span(seconds: i64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m", seconds / 60),
        3_600..86_400 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ages_read_like_kubectls() {
        let now = OffsetDateTime::parse("2026-12-07T12:00:00Z", &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let ago = |at: &str| age(&json!(at), now);
        assert_eq!(ago("2026-12-07T11:59:15Z"), "45s");
        assert_eq!(ago("2026-12-07T11:48:00Z"), "12m");
        assert_eq!(ago("2026-12-07T09:00:00Z"), "3h");
        assert_eq!(ago("2026-12-05T12:00:00Z"), "2d");
        assert_eq!(age(&json!(null), now), "-");
        assert_eq!(left(&json!("2026-12-07T15:30:00Z"), now), "3h");
        assert_eq!(left(&json!(null), now), "-");
    }
}
