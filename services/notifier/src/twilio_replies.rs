//! Answering a page from the phone (docs/oncall.md, "Answering a page"): `POST /twilio/sms`, the
//! reply to an SMS page, and `POST /twilio/voice/{delivery}`, the key pressed in a voice page's
//! call. Both are Twilio's webhooks, served only when `TWILIO_WEBHOOK_BASE_URL` is set.
//!
//! Twilio signs every webhook: `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed with the
//! account's auth token, of the full URL it called followed by each POST parameter, sorted by
//! name, as its name then its value. The URL is built from `TWILIO_WEBHOOK_BASE_URL` and the path
//! and query of the request, never from its `Host` header, which whoever sends the request
//! chooses. A request whose signature does not match (compared in constant time) is refused with
//! 401 and changes nothing. Twilio's scheme carries no time: a captured request could be sent
//! again, and is then the same command (its id comes from Twilio's `MessageSid` or `CallSid`),
//! which incident-core applies once.
//!
//! - An SMS reply is a code and a letter, "1a" (acknowledge) or "1r" (resolve), as the page said.
//!   The code names an incident for the person whose SMS contact method sent the reply
//!   (`tocsin_storage::replies`); a reply from any other number, with a code that person does not
//!   have, or that is not a code and a letter, gets a TwiML message saying it was not understood
//!   and changes nothing. A valid one becomes a command on the commands stream with the person as
//!   the actor, and the answer confirms it. The same `MessageSid` twice (Twilio retrying) queues
//!   one command.
//! - A call's `<Gather>` posts the key to a URL naming the page's delivery: the delivery gives the
//!   incident and the person, and Twilio's `To` must be the number that delivery called, so a
//!   caller can only act on the page they were called about. [`ACKNOWLEDGE_KEY`] acknowledges.
//!
//! Every answer is counted in `tocsin_notifier_page_replies_total{method, outcome}`.

use crate::channels::inert::html;
use crate::metrics::ReplyLabels;
use crate::pages::ACKNOWLEDGE_KEY;
use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{KeyInit, Mac};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use time::OffsetDateTime;
use tocsin_bus::Bus;
use tocsin_domain::{Action, Command};
use tocsin_runtime::traces::Tracer;
use tocsin_runtime::{ApiError, ErrorCode, Secret};
use tocsin_storage::replies::{self, MAX_REPLY_CODE};
use tocsin_storage::{Pool, StorageError};
use uuid::Uuid;

/// The header carrying Twilio's signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The path of SMS replies: the messaging webhook of the number pages come from.
pub const SMS_PATH: &str = "/twilio/sms";
/// Longest `MessageSid` or `CallSid` taken (Twilio's are 34 characters).
pub const MAX_SID_CHARS: usize = 64;
/// Longest phone number taken (E.164 is at most 16 characters with its `+`).
pub const MAX_NUMBER_CHARS: usize = 32;
/// Longest SMS body taken: Twilio's own limit.
pub const MAX_BODY_CHARS: usize = 1_600;
/// Longest `Digits` taken: a `<Gather>` of one key sends one.
pub const MAX_DIGITS_CHARS: usize = 16;
/// The namespace of command ids derived from Twilio's message and call ids.
const TWILIO_COMMAND_NAMESPACE: Uuid = Uuid::from_u128(0x2b7e_1516_28ae_4d2a_a6d2_ae2b_7e15_1628);

/// The path a voice page's `<Gather>` posts its key to.
pub fn voice_path(delivery_id: i64) -> String {
    format!("/twilio/voice/{delivery_id}")
}

/// Every outcome an answer is counted under.
pub const OUTCOMES: [&str; 10] = [
    "accepted",
    "repeated",
    "bad_signature",
    "malformed",
    "not_understood",
    "unknown_number",
    "unknown_code",
    "ambiguous",
    "unknown_page",
    "wrong_key",
];

pub struct TwilioReplies {
    pub auth_token: Secret,
    /// `TWILIO_WEBHOOK_BASE_URL`, without its trailing `/`.
    pub base_url: String,
    pub pool: Pool,
    pub bus: Bus,
    /// Traces the commands the answers queue.
    pub tracer: Tracer,
    pub counted: Family<ReplyLabels, Counter>,
}

impl TwilioReplies {
    fn count(&self, method: &'static str, outcome: &'static str) {
        self.counted.get_or_create(&ReplyLabels { method, outcome }).inc();
    }
}

type TwilioMac = hmac::Hmac<sha1::Sha1>;

fn twilio_mac(auth_token: &Secret, url: &str, params: &[(String, String)]) -> TwilioMac {
    #[allow(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = TwilioMac::new_from_slice(auth_token.expose().as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name, and a repeated name's values in order too, as Twilio's own libraries sort them.
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The `X-Twilio-Signature` Twilio sends for a POST of `params` to `url`: what a test, or a
/// proxy that re-signs requests, needs to produce.
pub fn signature_of(auth_token: &Secret, url: &str, params: &[(String, String)]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(twilio_mac(auth_token, url, params).finalize().into_bytes())
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is not signed (X-Twilio-Signature is required)")]
    Missing,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks Twilio's signature of a POST of `params` to `url`.
pub fn verify_signature(
    auth_token: &Secret,
    headers: &HeaderMap,
    url: &str,
    params: &[(String, String)],
) -> Result<(), SignatureError> {
    use base64::Engine;
    let signature =
        headers.get(SIGNATURE_HEADER).and_then(|value| value.to_str().ok()).ok_or(SignatureError::Missing)?;
    let expected =
        base64::engine::general_purpose::STANDARD.decode(signature.trim()).map_err(|_| SignatureError::Mismatch)?;
    // `verify_slice` compares in constant time.
    twilio_mac(auth_token, url, params).verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// What an SMS reply asks for: a code and an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsAnswer {
    pub code: i16,
    pub action: Action,
}

/// Reads "1a", " 12 R ", "3r": a code of 1 to 99 and `a` (acknowledge) or `r` (resolve), in any
/// case, with spaces around or between. Anything else is not an answer.
pub fn parse_sms_answer(body: &str) -> Option<SmsAnswer> {
    let body = body.trim();
    let letter_at = body.find(|c: char| !c.is_ascii_digit())?;
    let (digits, rest) = body.split_at(letter_at);
    let code: i16 = digits.parse().ok().filter(|code| (1..=MAX_REPLY_CODE).contains(code))?;
    let action = match rest.trim_start() {
        "a" | "A" => Action::Acknowledge,
        "r" | "R" => Action::Resolve,
        _ => return None,
    };
    (digits.len() <= 2).then_some(SmsAnswer { code, action })
}

/// The URL Twilio called: the configured base, then the request's path and query.
fn called_url(base_url: &str, request: &HttpRequest) -> String {
    let path_and_query = request.uri().path_and_query().map_or_else(|| request.path(), |pq| pq.as_str());
    format!("{base_url}{path_and_query}")
}

/// The form's fields, the request checked against its signature.
fn verified_form(
    replies: &TwilioReplies,
    request: &HttpRequest,
    body: &[u8],
    method: &'static str,
) -> Result<Vec<(String, String)>, ApiError> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        replies.count(method, "malformed");
        ApiError::invalid_payload("the body is not a form (application/x-www-form-urlencoded)")
    })?;
    let url = called_url(&replies.base_url, request);
    if let Err(error) = verify_signature(&replies.auth_token, request.headers(), &url, &params) {
        replies.count(method, "bad_signature");
        tracing::warn!(%error, method, "refusing a twilio webhook");
        return Err(ApiError::new(ErrorCode::Unauthorized, format!("twilio signature: {error}")));
    }
    Ok(params)
}

/// The field `name` of the form: required, at most `max` characters, else 400 naming it.
fn field<'a>(
    params: &'a [(String, String)],
    name: &str,
    max: usize,
    replies: &TwilioReplies,
    method: &'static str,
) -> Result<&'a str, ApiError> {
    let Some(value) = params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()) else {
        replies.count(method, "malformed");
        return Err(ApiError::invalid_payload(format!("{name} is required")));
    };
    if value.chars().count() > max {
        replies.count(method, "malformed");
        return Err(ApiError::invalid_payload(format!("{name} is longer than {max} characters")));
    }
    Ok(value)
}

fn twiml(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body)
}

fn message(text: &str) -> HttpResponse {
    twiml(format!("<Response><Message>{}</Message></Response>", html::text(text)))
}

fn say(text: &str) -> HttpResponse {
    twiml(format!("<Response><Say>{}</Say></Response>", html::text(text)))
}

const NOT_UNDERSTOOD: &str = "tocsin did not understand that. Reply with the code and letter your page gave, \
                              like 1a to acknowledge or 1r to resolve.";

/// 503 when the database cannot be reached (Twilio retries), 500 for anything else.
fn storage_error(error: impl Into<StorageError>) -> ApiError {
    match error.into() {
        StorageError::Unavailable(detail) => ApiError::unavailable("postgres", detail),
        other => ApiError::internal(other),
    }
}

/// `POST /twilio/sms`: a reply to an SMS page.
pub async fn sms(
    request: HttpRequest,
    body: web::Bytes,
    replies: web::Data<TwilioReplies>,
) -> Result<HttpResponse, ApiError> {
    const METHOD: &str = "sms";
    let params = verified_form(&replies, &request, &body, METHOD)?;
    let sid = field(&params, "MessageSid", MAX_SID_CHARS, &replies, METHOD)?;
    let from = field(&params, "From", MAX_NUMBER_CHARS, &replies, METHOD)?;
    let text = field(&params, "Body", MAX_BODY_CHARS, &replies, METHOD)?;
    let Some(answer) = parse_sms_answer(text) else {
        replies.count(METHOD, "not_understood");
        return Ok(message(NOT_UNDERSTOOD));
    };
    let mut conn = replies.pool.get().await.map_err(storage_error)?;
    let targets = replies::replies_to(&mut conn, from, answer.code).await.map_err(storage_error)?;
    let target = match targets.as_slice() {
        [target] => target.clone(),
        [] => {
            let known = replies::is_sms_number(&mut conn, from).await.map_err(storage_error)?;
            let outcome = if known { "unknown_code" } else { "unknown_number" };
            replies.count(METHOD, outcome);
            tracing::info!(outcome, code = answer.code, "an SMS reply answers no page: nothing queued");
            return Ok(message(NOT_UNDERSTOOD));
        }
        _ => {
            replies.count(METHOD, "ambiguous");
            tracing::info!(code = answer.code, "an SMS reply from a number people share: nothing queued");
            return Ok(message(
                "tocsin cannot tell whose page that answers: this number belongs to several people. \
                 Please answer from the dashboard.",
            ));
        }
    };
    let verb = match answer.action {
        Action::Resolve => "resolving",
        _ => "acknowledging",
    };
    let confirmation = format!("tocsin: {verb} {}.", answer.code);
    if target.last_reply_sid.as_deref() == Some(sid) {
        replies.count(METHOD, "repeated");
        return Ok(message(&confirmation));
    }
    let command = Command {
        id: Uuid::new_v5(&TWILIO_COMMAND_NAMESPACE, format!("sms:{sid}").as_bytes()),
        incident_id: target.incident_id,
        action: answer.action,
        actor: target.actor.clone(),
        requested_at: OffsetDateTime::now_utc(),
    };
    crate::commands::queue(&replies.bus, &replies.tracer, &request, &[command], "a page's answer").await?;
    replies::mark_replied(&mut conn, target.user_id, answer.code, sid).await.map_err(storage_error)?;
    replies.count(METHOD, "accepted");
    Ok(message(&confirmation))
}

/// `POST /twilio/voice/{delivery}`: the key pressed in a voice page's call.
pub async fn voice(
    request: HttpRequest,
    body: web::Bytes,
    delivery: web::Path<String>,
    replies: web::Data<TwilioReplies>,
) -> Result<HttpResponse, ApiError> {
    const METHOD: &str = "voice";
    let params = verified_form(&replies, &request, &body, METHOD)?;
    let call_sid = field(&params, "CallSid", MAX_SID_CHARS, &replies, METHOD)?;
    let called = field(&params, "To", MAX_NUMBER_CHARS, &replies, METHOD)?;
    let digits = field(&params, "Digits", MAX_DIGITS_CHARS, &replies, METHOD)?;
    let Ok(delivery_id) = delivery.parse::<i64>() else {
        replies.count(METHOD, "unknown_page");
        return Ok(say("This call is not a page tocsin knows. Goodbye."));
    };
    let mut conn = replies.pool.get().await.map_err(storage_error)?;
    let page = replies::called_page(&mut conn, delivery_id).await.map_err(storage_error)?;
    drop(conn);
    // The signature proves Twilio sent this for the URL tocsin gave; the number called must also
    // be the one that page went to.
    let Some(page) = page.filter(|page| page.kind == "voice" && page.address == called && !page.incident_id.is_nil())
    else {
        replies.count(METHOD, "unknown_page");
        tracing::info!(delivery.id = delivery_id, "a key pressed for no page of this number: nothing queued");
        return Ok(say("This call is not a page tocsin knows. Goodbye."));
    };
    if digits.trim() != ACKNOWLEDGE_KEY {
        replies.count(METHOD, "wrong_key");
        return Ok(say(&format!("Only {ACKNOWLEDGE_KEY} acknowledges. Nothing was changed. Goodbye.")));
    }
    let command = Command {
        id: Uuid::new_v5(&TWILIO_COMMAND_NAMESPACE, format!("call:{call_sid}:{delivery_id}").as_bytes()),
        incident_id: page.incident_id,
        action: Action::Acknowledge,
        actor: page.actor.clone(),
        requested_at: OffsetDateTime::now_utc(),
    };
    crate::commands::queue(&replies.bus, &replies.tracer, &request, &[command], "a page's answer").await?;
    replies.count(METHOD, "accepted");
    Ok(say("Acknowledged. Thank you. Goodbye."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn the_signature_is_twilios_example() {
        // The request of Twilio's "Validating requests" example; the signature computed independently:
        // Python's base64(hmac.new(b"12345", url + "".join(k + v for k, v in sorted(params)), sha1)).
        let token = Secret::new("12345");
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[
            ("To", "+18005551212"),
            ("From", "+14158675310"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        let signature = signature_of(&token, url, &params);
        assert_eq!(signature, "GvWf1cFY/Q7PnoempGyD5oXAezc=");
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-twilio-signature"),
            HeaderValue::from_static("GvWf1cFY/Q7PnoempGyD5oXAezc="),
        );
        assert_eq!(verify_signature(&token, &headers, url, &params), Ok(()));
        assert_eq!(verify_signature(&Secret::new("54321"), &headers, url, &params), Err(SignatureError::Mismatch));
        let other_url = "https://attacker.example/myapp.php?foo=1&bar=2";
        assert_eq!(verify_signature(&token, &headers, other_url, &params), Err(SignatureError::Mismatch));
        let mut changed = params.clone();
        changed[3].1 = "4".into();
        assert_eq!(verify_signature(&token, &headers, url, &changed), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(&token, &HeaderMap::new(), url, &params), Err(SignatureError::Missing));
    }

    #[test]
    fn sms_answers_are_a_code_and_a_letter() {
        let ack = |code| Some(SmsAnswer { code, action: Action::Acknowledge });
        let resolve = |code| Some(SmsAnswer { code, action: Action::Resolve });
        assert_eq!(parse_sms_answer("1a"), ack(1));
        assert_eq!(parse_sms_answer(" 12 A\n"), ack(12));
        assert_eq!(parse_sms_answer("99r"), resolve(99));
        for nonsense in ["", "a", "1", "0a", "100a", "001a", "1x", "1ack", "yes", "1 a a", "-1a"] {
            assert_eq!(parse_sms_answer(nonsense), None, "{nonsense:?}");
        }
    }
}
