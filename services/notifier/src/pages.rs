//! Pages to one person, through one of their contact methods (docs/oncall.md, "Notification
//! rules"): a Slack direct message, an e-mail, an SMS or a voice call through a Twilio-compatible
//! API, or a signed webhook. The event loop turns each person a `paged` event names into one
//! delivery per notification rule, due at the event's time plus the rule's delay; the delivery
//! worker (`crate::deliveries`) claims it when due, checks the incident is still open and
//! unacknowledged, and hands it to [`Pager::send`].
//!
//! Everything an alert wrote goes through [`crate::channels::inert`] for the syntax it lands in:
//! Slack's mrkdwn (the channel message's blocks), the e-mail's HTML, TwiML's XML (escaped as
//! HTML's entities, which XML shares), and [`defang`] for an SMS, which has no markup but whose
//! phone would make a link of a bare URL.

use crate::channels::email::{Email, SmtpSettings};
use crate::channels::inert::{defang, html};
use crate::channels::slack::{answer_of, fallback_text, message_blocks, metadata};
use crate::channels::{Attempt, Delivered, DeliveryError, Summary, send, truncate_chars};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tocsin_runtime::Secret;
use tocsin_storage::contacts::{ContactKind, ContactMethod};
use tocsin_storage::notifications::TestPage;

/// Twilio splits longer messages, and refuses those over 1,600 characters.
const MAX_SMS_CHARS: usize = 1_600;
/// What the voice says of the incident's title, at most: a call is not the place to read a log.
const MAX_SPOKEN_CHARS: usize = 300;
/// The header carrying a webhook page's signature: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Tocsin-Signature";
/// The header carrying the Unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Tocsin-Timestamp";

/// An account of a Twilio-compatible API for SMS and calls.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// `https://api.twilio.com` unless `TWILIO_API_URL` says otherwise.
    pub api_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    /// The number pages come from, in E.164 form.
    pub from: String,
    /// Where the provider reaches the notifier (`TWILIO_WEBHOOK_BASE_URL`, no trailing `/`): when
    /// set, an SMS page says how to answer it and a call takes a key (`crate::twilio_replies`);
    /// Twilio's signatures cover the URL it called, which is built from this.
    pub webhook_base_url: Option<String>,
}

/// The key that acknowledges a voice page.
pub const ACKNOWLEDGE_KEY: &str = "4";

/// What the pager needs besides the HTTP client: each method's credentials, when configured.
#[derive(Debug, Clone, Default)]
pub struct PagerSettings {
    pub slack_api_url: String,
    /// The bot token that sends direct messages (`SLACK_DM_TOKEN`, else the Slack bot's).
    pub slack_token: Option<Secret>,
    pub smtp: Option<SmtpSettings>,
    pub twilio: Option<TwilioSettings>,
    /// Signs webhook pages (`PAGE_WEBHOOK_SECRET`).
    pub webhook_secret: Option<Secret>,
}

/// What a page says.
pub enum PageContent<'a> {
    /// An incident's page: its summary (the `paged` event with the incident as it was).
    Incident(Summary<'a>),
    /// A test page a person asked for from their profile.
    Test(&'a TestPage),
}

pub struct Pager {
    http: reqwest::Client,
    settings: PagerSettings,
}

impl Pager {
    pub fn new(http: reqwest::Client, mut settings: PagerSettings) -> Pager {
        settings.slack_api_url = settings.slack_api_url.trim_end_matches('/').to_owned();
        if let Some(twilio) = &mut settings.twilio {
            twilio.api_url = twilio.api_url.trim_end_matches('/').to_owned();
            if let Some(base) = &mut twilio.webhook_base_url {
                *base = base.trim_end_matches('/').to_owned();
            }
        }
        Pager { http, settings }
    }

    /// Whether SMS and voice pages can be answered (`TWILIO_WEBHOOK_BASE_URL` is set): then an
    /// SMS page of an incident needs its person's reply code ([`Pager::send`]'s `reply_code`).
    pub fn takes_replies(&self) -> bool {
        self.settings.twilio.as_ref().is_some_and(|twilio| twilio.webhook_base_url.is_some())
    }

    /// Sends the page through `method`. A method whose credentials are not configured fails for
    /// good, naming the setting, so the page lands on the dead-letter stream rather than vanishing.
    /// `reply_code` is the code an SMS page tells its person to answer with.
    pub async fn send(
        &self,
        method: &ContactMethod,
        content: &PageContent<'_>,
        attempt: &Attempt,
        reply_code: Option<i16>,
    ) -> Result<Delivered, DeliveryError> {
        match method.kind {
            ContactKind::Slack => self.slack_dm(&method.address, content, attempt).await,
            ContactKind::Email => self.email(&method.address, content).await,
            ContactKind::Sms => self.sms(&method.address, content, reply_code).await,
            ContactKind::Voice => self.call(&method.address, content, attempt).await,
            ContactKind::Webhook => self.webhook(&method.address, content, attempt).await,
        }
        .map(|()| Delivered::default())
    }

    /// `chat.postMessage` to the person's member id, which Slack delivers as a direct message from
    /// the app, with the channel message's blocks and buttons. An e-mail address is first looked up
    /// with `users.lookupByEmail` (the `users:read.email` scope).
    async fn slack_dm(&self, address: &str, content: &PageContent<'_>, attempt: &Attempt) -> Result<(), DeliveryError> {
        let token = self.settings.slack_token.as_ref().ok_or_else(|| {
            DeliveryError::permanent("a slack page needs a bot token: set SLACK_DM_TOKEN (or SLACK_BOT_TOKEN)")
        })?;
        let member = if address.contains('@') {
            let query = serde_urlencoded::to_string([("email", address)])
                .map_err(|error| DeliveryError::permanent(format!("slack users.lookupByEmail: {error}")))?;
            let request = self
                .http
                .get(format!("{}/users.lookupByEmail?{query}", self.settings.slack_api_url))
                .bearer_auth(token.expose());
            let api = "slack users.lookupByEmail";
            let answer = answer_of(api, send(api, request).await?)?;
            answer["user"]["id"]
                .as_str()
                .ok_or_else(|| DeliveryError::permanent("slack users.lookupByEmail answered ok without a user id"))?
                .to_owned()
        } else {
            address.to_owned()
        };
        let body = match content {
            PageContent::Incident(summary) => json!({
                "channel": member,
                "text": fallback_text(summary),
                "blocks": message_blocks(summary, true),
                "metadata": metadata(attempt),
            }),
            PageContent::Test(test) => json!({
                "channel": member,
                "text": test_text(test),
                "metadata": metadata(attempt),
            }),
        };
        let api = "slack chat.postMessage";
        let request = self
            .http
            .post(format!("{}/chat.postMessage", self.settings.slack_api_url))
            .bearer_auth(token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string());
        answer_of(api, send(api, request).await?)?;
        Ok(())
    }

    async fn email(&self, address: &str, content: &PageContent<'_>) -> Result<(), DeliveryError> {
        let smtp =
            self.settings.smtp.as_ref().ok_or_else(|| DeliveryError::permanent("an e-mail page needs SMTP_URL"))?;
        let email = Email::new(smtp, &[address.to_owned()]).map_err(DeliveryError::permanent)?;
        match content {
            PageContent::Incident(summary) => email.deliver(summary).await?,
            PageContent::Test(test) => email.deliver_plain("tocsin test page", &test_text(test)).await?,
        };
        Ok(())
    }

    /// `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`.
    async fn sms(&self, number: &str, content: &PageContent<'_>, reply_code: Option<i16>) -> Result<(), DeliveryError> {
        let twilio = self.twilio("an SMS page")?;
        let text = match content {
            PageContent::Incident(summary) => sms_text(summary, reply_code),
            PageContent::Test(test) => test_text(test),
        };
        let form = [("To", number), ("From", twilio.from.as_str()), ("Body", text.as_str())];
        self.twilio_post(twilio, "Messages.json", &form).await
    }

    /// `POST {base}/2010-04-01/Accounts/{sid}/Calls.json` with inline TwiML that says the page,
    /// and, when the notifier takes answers, gathers a key whose action names the delivery.
    async fn call(&self, number: &str, content: &PageContent<'_>, attempt: &Attempt) -> Result<(), DeliveryError> {
        let twilio = self.twilio("a voice page")?;
        let gather = match content {
            PageContent::Incident(_) => twilio
                .webhook_base_url
                .as_ref()
                .map(|base| format!("{base}{}", crate::twilio_replies::voice_path(attempt.delivery_id))),
            PageContent::Test(_) => None,
        };
        let twiml = twiml(content, gather.as_deref());
        let form = [("To", number), ("From", twilio.from.as_str()), ("Twiml", twiml.as_str())];
        self.twilio_post(twilio, "Calls.json", &form).await
    }

    fn twilio(&self, what: &str) -> Result<&TwilioSettings, DeliveryError> {
        self.settings.twilio.as_ref().ok_or_else(|| {
            DeliveryError::permanent(format!(
                "{what} needs a Twilio account: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM"
            ))
        })
    }

    async fn twilio_post(
        &self,
        twilio: &TwilioSettings,
        resource: &str,
        form: &[(&str, &str)],
    ) -> Result<(), DeliveryError> {
        let api = format!("twilio {resource}");
        let body = serde_urlencoded::to_string(form)
            .map_err(|error| DeliveryError::permanent(format!("{api}: the form: {error}")))?;
        let request = self
            .http
            .post(format!("{}/2010-04-01/Accounts/{}/{resource}", twilio.api_url, twilio.account_sid))
            .basic_auth(&twilio.account_sid, Some(twilio.auth_token.expose()))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        send(&api, request).await?;
        Ok(())
    }

    /// A JSON `POST` signed as [`signature`] says, with the time it was signed at.
    async fn webhook(&self, url: &str, content: &PageContent<'_>, attempt: &Attempt) -> Result<(), DeliveryError> {
        let secret = self
            .settings
            .webhook_secret
            .as_ref()
            .ok_or_else(|| DeliveryError::permanent("a webhook page needs PAGE_WEBHOOK_SECRET to sign it"))?;
        let body = webhook_body(content, attempt).to_string();
        let timestamp = OffsetDateTime::now_utc().unix_timestamp().to_string();
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature(secret.expose().as_bytes(), &timestamp, body.as_bytes()))
            .body(body);
        // The URL is the person's and may hold a token: errors leave it out.
        send("page webhook", request).await?;
        Ok(())
    }
}

/// `sha256=` and the hex HMAC-SHA256, keyed with the secret, of the timestamp, a `.` and the body,
/// as Slack and Stripe sign theirs: a receiver recomputes it and refuses a timestamp too old, so a
/// captured request cannot be replayed later.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    #[allow(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a webhook page posts: the kind, the incident with the `paged` detail and where to see it,
/// or the test page's facts. Alert text is as it came: the receiver renders it, and JSON needs no
/// escaping beyond its own.
fn webhook_body(content: &PageContent<'_>, attempt: &Attempt) -> Value {
    match content {
        PageContent::Incident(summary) => json!({
            "type": "page",
            "delivery_id": attempt.delivery_id,
            "event_id": summary.event.id,
            "at": summary.event.at.unix_timestamp(),
            "incident": summary.event.incident,
            "page": summary.event.detail,
            "dashboard_url": summary.dashboard_url,
        }),
        PageContent::Test(test) => json!({
            "type": "test",
            "delivery_id": attempt.delivery_id,
            "requested_by": test.requested_by,
            "requested_at": test.requested_at.unix_timestamp(),
        }),
    }
}

/// "tocsin: [CRITICAL] Disk full on db-1 · Escalation step 1: paging Ana · Reply 1a to
/// acknowledge, 1r to resolve · https://…/incident/…". The alert's words are cut to fit, never
/// the answer's code or the link.
fn sms_text(summary: &Summary<'_>, reply_code: Option<i16>) -> String {
    let text = format!("tocsin: {} · {}", defang(&summary.headline()), defang(&summary.step()));
    let mut ending = String::new();
    if let Some(code) = reply_code {
        ending.push_str(&format!(" · Reply {code}a to acknowledge, {code}r to resolve"));
    }
    if let Some(url) = &summary.dashboard_url {
        ending.push_str(" · ");
        ending.push_str(url);
    }
    let mut text = truncate_chars(&text, MAX_SMS_CHARS.saturating_sub(ending.chars().count()));
    text.push_str(&ending);
    text
}

/// The call's TwiML: the page said twice, slowly enough to wake up to. With `gather` (the URL
/// Twilio posts the key to), both are said inside a `<Gather>` of one key, which stops talking
/// at the first key pressed.
fn twiml(content: &PageContent<'_>, gather: Option<&str>) -> String {
    let said = match content {
        PageContent::Incident(summary) => {
            let incident = &summary.event.incident;
            format!(
                "This is tocsin. A {} incident needs you: {}. Acknowledge it in tocsin.",
                incident.severity.as_str(),
                html::text(&truncate_chars(&incident.title, MAX_SPOKEN_CHARS))
            )
        }
        PageContent::Test(_) => {
            "This is a test page from tocsin. Pages for incidents will reach you like this.".to_owned()
        }
    };
    match gather {
        None => format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>"),
        Some(action) => {
            let said = format!("{said} Press {ACKNOWLEDGE_KEY} to acknowledge.");
            format!(
                "<Response><Gather numDigits=\"1\" method=\"POST\" action=\"{}\"><Say>{said}</Say>\
                 <Pause length=\"1\"/><Say>{said}</Say></Gather><Say>No key was pressed. Goodbye.</Say></Response>",
                html::attribute(action)
            )
        }
    }
}

fn test_text(test: &TestPage) -> String {
    format!("tocsin test page, asked for by {}: pages for incidents will reach you here.", defang(&test.requested_by))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::sample_event;
    use tocsin_domain::EventKind;

    #[test]
    fn the_signature_is_the_hmac_of_the_timestamp_a_dot_and_the_body() {
        // Computed independently: Python's hmac.new(b"key", b"1700000000.{}", hashlib.sha256).
        assert_eq!(
            signature(b"key", "1700000000", b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn alert_text_is_escaped_for_twiml_and_defanged_for_sms() {
        let mut event = sample_event(EventKind::Paged);
        event.incident.title = "</Say><Dial>+15550000</Dial> & @here https://evil.example".into();
        let summary = Summary::new(&event, Some("https://tocsin.example.com"));
        let spoken = twiml(&PageContent::Incident(Summary::new(&event, None)), None);
        assert!(
            spoken.contains(
                "&lt;/Say&gt;&lt;Dial&gt;+15550000&lt;/Dial&gt; &amp; @\u{2060}here https:\u{2060}//evil.example"
            ),
            "{spoken}"
        );
        assert_eq!(spoken.matches("<Say>").count(), 2);
        let text = sms_text(&summary, None);
        assert!(text.contains("@\u{2060}here https:\u{2060}//evil.example"), "{text}");
        assert!(text.ends_with("https://tocsin.example.com/incident/00000000-0000-0000-0000-000000000001"), "{text}");
    }
}
