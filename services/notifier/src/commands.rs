//! The commands people give through the notifier's own endpoints (a Slack button, an SMS reply to a
//! page, a key pressed in a page's call) go to incident-core the same way: onto the commands
//! stream, each under its own id, with a "publish commands" span of the request's trace when it is
//! traced, so the click or the answer, the command and what incident-core did with it read as one
//! trace.

use actix_web::HttpRequest;
use tocsin_bus::{Bus, Envelope, Stream};
use tocsin_domain::Command;
use tocsin_runtime::ApiError;
use tocsin_runtime::traces::{self, Tracer};

/// Publishes `commands` on the commands stream; 503 naming Redis when it cannot. `source` says in
/// the log what gave them ("slack button", "page answer").
pub async fn queue(
    bus: &Bus,
    tracer: &Tracer,
    request: &HttpRequest,
    commands: &[Command],
    source: &str,
) -> Result<(), ApiError> {
    let mut envelopes: Vec<Envelope<Command>> =
        commands.iter().map(|command| Envelope::new(command.clone()).with_id(command.id)).collect();
    let request_span = traces::request_context(request);
    let spans: Vec<_> = envelopes
        .iter_mut()
        .map(|envelope| bus.producer_span(tracer, Stream::Commands, request_span.as_ref(), envelope))
        .collect();
    let published = bus.publish(Stream::Commands, &envelopes).await;
    for mut span in spans {
        if let Err(error) = &published {
            span.set_error(&error.to_string());
        }
        span.end();
    }
    published.map_err(|error| ApiError::unavailable("redis", error))?;
    for command in commands {
        tracing::info!(
            command.id = %command.id,
            incident.id = %command.incident_id,
            action = command.action.name(),
            actor = %command.actor,
            "{source} queued a command"
        );
    }
    Ok(())
}
