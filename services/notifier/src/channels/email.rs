//! E-mail over SMTP: one message per event to all of a route's recipients, threaded per incident.
//!
//! `SMTP_URL` takes three forms:
//!
//! | URL | connection |
//! |---|---|
//! | `smtps://host[:465]` | TLS from the first byte (implicit TLS, "SMTPS") |
//! | `smtp://host[:587]?tls=required` | STARTTLS, and no mail goes out if the server does not offer it |
//! | `smtp://host[:25]` | plain text: meant only for a relay on the same host (a sidecar, a local MTA) |
//!
//! Plain text carries the messages, and any password, readable by whoever is on the path, so
//! credentials are refused on a plain connection to anything but a loopback address. The server's
//! certificate is checked against the system's roots, plus `ca_file` (PEM) for a private CA.
//!
//! Threading: the message of the incident's `opened` event has the Message-ID
//! `<incident-{id}@tocsin>`; every later one replies to it (In-Reply-To, References). All carry the
//! same subject, the incident's headline, because Gmail starts a new conversation when the subject
//! changes; what happened comes first in the body, where the inbox preview shows it.
//!
//! Alert text is made inert ([`super::inert`]): entities in the HTML part, mentions and bare URLs
//! broken in both parts and the subject, so a mail client makes no link of them. The only links
//! are the ones [`Summary::links`] checked.

use super::inert::{defang, html};
use super::{Delivered, DeliveryError, Summary, truncate_chars};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use tocsin_domain::EventKind;
use tocsin_runtime::Secret;

/// Long subjects are folded by lettre, but clients show only the start of one anyway.
const MAX_SUBJECT: usize = 250;

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// See the module documentation for the accepted forms.
    pub url: String,
    /// The `From` address, with or without a name: `tocsin <oncall@example.com>`.
    pub from: String,
    pub username: Option<Secret>,
    pub password: Option<Secret>,
    /// PEM certificates trusted for the server in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The longest one delivery may take, from connecting to the server's last answer.
    pub timeout: Duration,
}

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
}

impl Email {
    /// Checks the settings and the addresses; nothing is connected until the first delivery.
    pub fn new(settings: &SmtpSettings, to: &[String]) -> Result<Email, String> {
        let endpoint = Endpoint::parse(&settings.url)?;
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|error| format!("SMTP_FROM={:?} is not a valid address: {error}", settings.from))?;
        if to.is_empty() {
            return Err("an e-mail route needs at least one recipient".to_owned());
        }
        let to = to
            .iter()
            .map(|address| {
                address
                    .parse::<Mailbox>()
                    .map_err(|error| format!("the recipient address {address:?} is not valid: {error}"))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.as_str())
            .port(endpoint.port)
            .timeout(Some(settings.timeout));
        builder = match endpoint.security {
            Security::ImplicitTls => builder.tls(Tls::Wrapper(tls_parameters(&endpoint.host, settings)?)),
            Security::StartTls => builder.tls(Tls::Required(tls_parameters(&endpoint.host, settings)?)),
            Security::Plain => builder.tls(Tls::None),
        };
        match (&settings.username, &settings.password) {
            (Some(username), Some(password)) => {
                if endpoint.security == Security::Plain && !is_loopback(&endpoint.host) {
                    return Err(format!(
                        "SMTP_URL: a password would cross the network in clear text to {}; use smtps:// or \
                         smtp://…?tls=required",
                        endpoint.host
                    ));
                }
                builder =
                    builder.credentials(Credentials::new(username.expose().to_owned(), password.expose().to_owned()));
            }
            (None, None) => {}
            _ => return Err("SMTP_USERNAME and SMTP_PASSWORD go together: set both or neither".to_owned()),
        }
        Ok(Email { transport: builder.build(), from, to, timeout: settings.timeout })
    }

    pub async fn deliver(&self, summary: &Summary<'_>) -> Result<Delivered, DeliveryError> {
        let message = message(summary, &self.from, &self.to)
            .map_err(|error| DeliveryError::permanent(format!("smtp: the message cannot be built: {error}")))?;
        // lettre's own timeout covers connecting only; a server that stalls later would hold the
        // delivery for ever.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(Delivered::default()),
            Ok(Err(error)) => Err(classify(&error)),
            Err(_) => Err(DeliveryError::retry(format!("smtp: no answer within {}s", self.timeout.as_secs_f64()))),
        }
    }

    /// A message of plain text, neither an incident's nor in its thread (a test page). `subject`
    /// and `text` are tocsin's own words.
    pub async fn deliver_plain(&self, subject: &str, text: &str) -> Result<Delivered, DeliveryError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject).raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ));
        for mailbox in &self.to {
            builder = builder.to(mailbox.clone());
        }
        let message = builder
            .body(text.to_owned())
            .map_err(|error| DeliveryError::permanent(format!("smtp: the message cannot be built: {error}")))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(Delivered::default()),
            Ok(Err(error)) => Err(classify(&error)),
            Err(_) => Err(DeliveryError::retry(format!("smtp: no answer within {}s", self.timeout.as_secs_f64()))),
        }
    }
}

/// 4xx answers, refused or dropped connections, TLS handshakes that fail and timeouts are retried;
/// 5xx answers and a server that lacks what the settings require (STARTTLS, an AUTH mechanism) are
/// not.
fn classify(error: &lettre::transport::smtp::Error) -> DeliveryError {
    // lettre's Display already ends with the direct cause; the deeper ones say what went wrong
    // (refused, timed out, which certificate problem).
    let mut reason = format!("smtp: {error}");
    let mut source = std::error::Error::source(error).and_then(|cause| cause.source());
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let reason = truncate_chars(&reason, 500);
    if error.is_permanent() || error.is_client() {
        DeliveryError::permanent(reason)
    } else {
        DeliveryError::retry(reason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    ImplicitTls,
    StartTls,
    Plain,
}

#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    security: Security,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
        const FORMS: &str = "smtps://host:465, smtp://host:587?tls=required or smtp://localhost:25";
        // The text is not repeated in errors until it is known to hold no password.
        let parsed =
            reqwest::Url::parse(url).map_err(|error| format!("SMTP_URL is not a URL ({error}); use {FORMS}"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(
                "SMTP_URL must not carry the user name or password: set SMTP_USERNAME and SMTP_PASSWORD".to_owned()
            );
        }
        let host =
            parsed.host_str().filter(|host| !host.is_empty()).ok_or_else(|| format!("SMTP_URL={url:?} has no host"))?;
        // An IPv6 address comes bracketed; the socket and the certificate check want it bare.
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        if !matches!(parsed.path(), "" | "/") || parsed.fragment().is_some() {
            return Err(format!("SMTP_URL={url:?} has a path or fragment, which means nothing here; use {FORMS}"));
        }
        let mut tls = None;
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "tls" if tls.is_none() => tls = Some(value.into_owned()),
                _ => return Err(format!("SMTP_URL={url:?}: unknown or repeated parameter {key:?}; use {FORMS}")),
            }
        }
        let security = match (parsed.scheme(), tls.as_deref()) {
            ("smtps", None | Some("required")) => Security::ImplicitTls,
            ("smtp", Some("required")) => Security::StartTls,
            ("smtp", None) => Security::Plain,
            ("smtp", Some("opportunistic")) => {
                return Err(format!(
                    "SMTP_URL={url:?}: tls=opportunistic falls back to plain text whenever STARTTLS fails; \
                     use tls=required"
                ));
            }
            _ => return Err(format!("SMTP_URL={url:?} is not one of {FORMS}")),
        };
        let default_port = match security {
            Security::ImplicitTls => 465,
            Security::StartTls => 587,
            Security::Plain => 25,
        };
        Ok(Endpoint { host, port: parsed.port().unwrap_or(default_port), security })
    }
}

fn tls_parameters(host: &str, settings: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = &settings.ca_file {
        let pem =
            std::fs::read(path).map_err(|error| format!("SMTP_CA_FILE={} cannot be read: {error}", path.display()))?;
        if !pem.windows(27).any(|window| window == b"-----BEGIN CERTIFICATE-----") {
            return Err(format!("SMTP_CA_FILE={} holds no PEM certificate", path.display()));
        }
        let certificate = Certificate::from_pem(&pem)
            .map_err(|error| format!("SMTP_CA_FILE={} is not valid PEM: {error}", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build().map_err(|error| format!("SMTP TLS cannot be set up: {error}"))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The Message-ID of an incident's first message, which every later one refers to.
pub fn thread_id(summary: &Summary<'_>) -> String {
    format!("<incident-{}@tocsin>", summary.event.incident.id)
}

/// The whole message. A later event's own Message-ID is derived from the event id, so a retried
/// delivery is recognisably the same message.
pub fn message(summary: &Summary<'_>, from: &Mailbox, to: &[Mailbox]) -> Result<Message, lettre::error::Error> {
    let thread = thread_id(summary);
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(truncate_chars(&defang(&summary.headline()), MAX_SUBJECT))
        // RFC 3834: tells auto-responders (out of office) not to answer.
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".to_owned()));
    for mailbox in to {
        builder = builder.to(mailbox.clone());
    }
    // An incident held by maintenance is first heard of when the window ends.
    builder = if matches!(summary.event.kind, EventKind::Opened | EventKind::MaintenanceEnded) {
        builder.message_id(Some(thread))
    } else {
        builder
            .message_id(Some(format!("<event-{}@tocsin>", summary.event.id)))
            .in_reply_to(thread.clone())
            .references(thread)
    };
    builder.multipart(MultiPart::alternative_plain_html(text_body(summary), html_body(summary)))
}

pub fn text_body(summary: &Summary<'_>) -> String {
    let mut text = format!("{}\n\n{}\n\n", defang(&summary.headline()), defang(&summary.step()));
    let facts = summary.facts();
    let width = facts.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    for (label, value) in facts {
        text.push_str(&format!("{:width$} {}\n", format!("{label}:"), defang(&value)));
    }
    let links = summary.links();
    if !links.is_empty() {
        text.push('\n');
        for (label, url) in links {
            text.push_str(&format!("{label}: {url}\n"));
        }
    }
    text.push_str(&format!("\n-- \nSent by tocsin about incident {}.\n", summary.event.incident.id));
    text
}

pub fn html_body(summary: &Summary<'_>) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif\">\n<h2>{}</h2>\n<p><strong>{}</strong></p>\n<table>\n",
        html::text(&summary.headline()),
        html::text(&summary.step()),
    );
    for (label, value) in summary.facts() {
        html.push_str(&format!(
            "<tr><th align=\"left\" style=\"padding-right: 1em\">{}</th><td>{}</td></tr>\n",
            label,
            html::text(&value)
        ));
    }
    html.push_str("</table>\n");
    let links: Vec<String> = summary
        .links()
        .iter()
        .map(|(label, url)| format!("<a href=\"{}\">{label}</a>", html::attribute(url)))
        .collect();
    if !links.is_empty() {
        html.push_str(&format!("<p>{}</p>\n", links.join(" · ")));
    }
    html.push_str(&format!(
        "<p style=\"color: #666; font-size: small\">Sent by tocsin about incident {}.</p>\n</body></html>\n",
        summary.event.incident.id
    ));
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_domain::IncidentEvent;

    fn event(kind: EventKind) -> IncidentEvent {
        let mut event = crate::channels::sample_event(kind);
        event.incident.title = "<script>alert('x')</script> & more".into();
        event.incident.runbook_url = Some("javascript:alert(1)".into());
        event.detail = serde_json::json!({ "alert": { "alertname": "HighCpu" } });
        event
    }

    fn settings(url: &str) -> SmtpSettings {
        SmtpSettings {
            url: url.to_owned(),
            from: "tocsin <oncall@example.com>".to_owned(),
            username: None,
            password: None,
            ca_file: None,
            timeout: Duration::from_secs(5),
        }
    }

    fn mailbox(address: &str) -> Mailbox {
        address.parse().unwrap_or_else(|error| panic!("{address}: {error}"))
    }

    #[test]
    fn the_three_url_forms_are_read() {
        let parse = |url: &str| Endpoint::parse(url).unwrap_or_else(|error| panic!("{url}: {error}"));
        assert_eq!(
            parse("smtps://mail.example.com"),
            Endpoint { host: "mail.example.com".into(), port: 465, security: Security::ImplicitTls }
        );
        assert_eq!(
            parse("smtp://mail.example.com:2587?tls=required"),
            Endpoint { host: "mail.example.com".into(), port: 2587, security: Security::StartTls }
        );
        assert_eq!(parse("smtp://mail.example.com?tls=required").port, 587);
        assert_eq!(parse("smtp://127.0.0.1").port, 25);
        assert_eq!(parse("smtp://[::1]:2525/").host, "::1");
    }

    #[test]
    fn bad_urls_name_smtp_url_and_never_echo_a_password() {
        for url in [
            "mail.example.com:25",
            "http://mail.example.com",
            "smtp://mail.example.com?tls=opportunistic",
            "smtp://mail.example.com?tls=yes",
            "smtp://mail.example.com?tsl=required",
            "smtp://mail.example.com/helo",
            "smtp://user:hunter2@mail.example.com",
            "smtp://",
        ] {
            let error = Endpoint::parse(url).err().unwrap_or_else(|| panic!("{url} was accepted"));
            assert!(error.contains("SMTP_URL"), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{url}: {error}");
        }
    }

    #[test]
    fn addresses_and_credentials_are_checked_up_front() {
        let recipients = ["oncall@example.com".to_owned()];
        let error = Email::new(&settings("smtp://localhost"), &["not an address".into()]).err();
        assert!(error.is_some_and(|error| error.contains("\"not an address\"")));
        let mut bad_from = settings("smtp://localhost");
        bad_from.from = "tocsin@".into();
        assert!(Email::new(&bad_from, &recipients).err().is_some_and(|error| error.contains("SMTP_FROM=\"tocsin@\"")));
        assert!(Email::new(&settings("smtp://localhost"), &[]).is_err());

        let mut plain = settings("smtp://relay.example.com");
        plain.username = Some(Secret::new("tocsin"));
        plain.password = Some(Secret::new("hunter2"));
        let error = Email::new(&plain, &recipients).err();
        assert!(error.is_some_and(|error| error.contains("clear text")));
        plain.url = "smtp://127.0.0.1:25".into();
        assert!(Email::new(&plain, &recipients).is_ok(), "a local relay may take a password");
        plain.password = None;
        assert!(Email::new(&plain, &recipients).is_err(), "a user name needs its password");

        let mut missing_ca = settings("smtps://mail.example.com");
        missing_ca.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(Email::new(&missing_ca, &recipients).err().is_some_and(|error| error.contains("/nonexistent/ca.pem")));
    }

    #[test]
    fn html_escapes_everything_that_comes_from_alerts() {
        let event = event(EventKind::Opened);
        let html = html_body(&Summary::new(&event, None));
        assert!(
            html.contains("<h2>[CRITICAL] &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more</h2>"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("href=\"javascript:"), "{html}");
        assert!(html.contains(">Runbook</th><td>javascript:alert(1)</td>"), "{html}");
    }

    #[test]
    fn the_text_part_lines_up_the_facts() {
        let event = event(EventKind::Opened);
        let text = text_body(&Summary::new(&event, Some("https://tocsin.example.com")));
        assert!(text.starts_with("[CRITICAL] <script>alert('x')</script> & more\n\nOpened by HighCpu\n\n"), "{text}");
        assert!(text.contains("\nStatus:      open\n"), "{text}");
        assert!(text.contains("\nEnvironment: production\n"), "{text}");
        assert!(
            text.contains("\nDashboard: https://tocsin.example.com/incident/00000000-0000-0000-0000-000000000001\n"),
            "{text}"
        );
    }

    #[test]
    fn an_incidents_messages_form_one_thread() {
        let from = mailbox("tocsin <oncall@example.com>");
        let to = [mailbox("a@example.com"), mailbox("b@example.com")];
        let opened = event(EventKind::Opened);
        let first = message(&Summary::new(&opened, None), &from, &to).expect("message");
        let first = String::from_utf8_lossy(&first.formatted()).into_owned();
        assert!(first.contains("Message-ID: <incident-00000000-0000-0000-0000-000000000001@tocsin>\r\n"), "{first}");
        assert!(!first.contains("In-Reply-To"), "{first}");
        assert!(first.contains("To: a@example.com, b@example.com\r\n"), "{first}");
        assert!(first.contains("Auto-Submitted: auto-generated\r\n"), "{first}");

        let acknowledged = event(EventKind::Acknowledged);
        let later = message(&Summary::new(&acknowledged, None), &from, &to).expect("message");
        let later = String::from_utf8_lossy(&later.formatted()).into_owned();
        assert!(later.contains("Message-ID: <event-00000000-0000-0000-0000-000000000002@tocsin>\r\n"), "{later}");
        assert!(later.contains("In-Reply-To: <incident-00000000-0000-0000-0000-000000000001@tocsin>\r\n"), "{later}");
        assert!(later.contains("References: <incident-00000000-0000-0000-0000-000000000001@tocsin>\r\n"), "{later}");
    }
}
