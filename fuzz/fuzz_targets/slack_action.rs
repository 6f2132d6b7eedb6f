//! Any bytes as the body of `POST /slack/actions` once its signature has checked out: the form
//! and JSON parse never panics, and the commands a payload yields are sound. Seeded with the
//! clicks in fuzz/seeds/slack_action.
#![no_main]

use libfuzzer_sys::fuzz_target;
use time::macros::datetime;
use tocsin_domain::Command;
use tocsin_notifier::slack_actions::{commands_of, parse_payload};
use uuid::Uuid;

fuzz_target!(|body: &[u8]| {
    let Ok(payload) = parse_payload(body) else { return };
    let clicked_at = datetime!(2026-11-26 20:36:25 UTC);
    let commands = commands_of(&payload, clicked_at);
    // Slack retries a click it thinks went unanswered: the retry must be the same commands, ids
    // included, so that incident-core applies the click once.
    assert_eq!(commands, commands_of(&payload, clicked_at), "a retried click gives other commands");
    if payload.kind != "block_actions" {
        assert!(commands.is_empty(), "only block_actions payloads are clicks");
    }
    assert!(commands.len() <= payload.actions.len(), "more commands than clicked buttons");
    for command in &commands {
        let clicked = payload.actions.iter().any(|action| {
            action.value.as_deref().and_then(|value| Uuid::parse_str(value).ok()) == Some(command.incident_id)
        });
        assert!(clicked, "command for incident {} that no button named", command.incident_id);
        assert!(command.actor.starts_with("slack:"), "actor `{}` is not a Slack user", command.actor);
        let encoded = serde_json::to_vec(command)
            .unwrap_or_else(|error| panic!("a command must encode onto the stream: {error}"));
        let decoded: Command = serde_json::from_slice(&encoded)
            .unwrap_or_else(|error| panic!("incident-core must decode the command: {error}"));
        assert_eq!(&decoded, command, "the stream changed the command");
    }
});
