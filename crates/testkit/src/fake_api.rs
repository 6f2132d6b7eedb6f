//! A real local HTTP server standing in for a third-party API (Slack, Teams, GitHub): it records
//! every request exactly as it arrived (method, path with query, headers, body) and answers from a
//! script, so a test can assert the exact requests and drive the failure cases (429 with
//! `Retry-After`, 5xx, 4xx) that the real services produce.

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, HttpServer, web};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path and, when there is one, the query (`/api/chat.postMessage`, `/repos/a/b/issues?x=1`).
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: std::time::Instant,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!("{} {}: body is not JSON ({error}): {}", self.method, self.path, self.text())
        })
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply { status, headers: vec![("content-type".into(), "application/json".into())], body: body.to_string() }
    }

    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: String::new() }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply { status, headers: vec![("content-type".into(), "text/plain".into())], body: body.to_owned() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Responder = Arc<dyn Fn(&RecordedRequest) -> Reply + Send + Sync>;

#[derive(Default)]
struct Script {
    requests: Vec<RecordedRequest>,
    /// One-off answers per `METHOD path`, used first, in order.
    once: HashMap<String, VecDeque<Reply>>,
    /// The standing answer per `METHOD path`.
    standing: HashMap<String, Responder>,
}

pub struct FakeApi {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    script: Arc<Mutex<Script>>,
    handle: ServerHandle,
}

impl FakeApi {
    /// Starts the server on a free loopback port. Unscripted requests get `200 {}`.
    pub async fn start() -> FakeApi {
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = web::Data::from(script.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("fake API");
        let port = listener.local_addr().expect("fake API").port();
        let server =
            HttpServer::new(move || actix_web::App::new().app_data(shared.clone()).default_service(web::to(answer)))
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener)
                .expect("fake API")
                .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeApi { url: format!("http://127.0.0.1:{port}"), script, handle }
    }

    /// Answers every `method path` request with `reply` (after any one-off answers).
    pub fn respond(&self, method: &str, path: &str, reply: Reply) {
        self.respond_with(method, path, move |_| reply.clone());
    }

    /// Answers every `method path` request with what `responder` makes of it.
    pub fn respond_with(
        &self,
        method: &str,
        path: &str,
        responder: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) {
        self.lock().standing.insert(route(method, path), Arc::new(responder));
    }

    /// Answers the next `method path` request with `reply`; queued one-offs are used in order.
    pub fn respond_once(&self, method: &str, path: &str, reply: Reply) {
        self.lock().once.entry(route(method, path)).or_default().push_back(reply);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Waits until at least `count` requests arrived (panics with what did after `timeout`).
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            if tokio::time::Instant::now() > deadline {
                let seen: Vec<String> = requests.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
                panic!("the fake API expected {count} requests within {timeout:?}, got {}: {seen:?}", requests.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn route(method: &str, path: &str) -> String {
    format!("{} {}", method.to_ascii_uppercase(), path)
}

async fn answer(request: HttpRequest, body: web::Bytes, script: web::Data<Mutex<Script>>) -> HttpResponse {
    let path = match request.query_string() {
        "" => request.path().to_owned(),
        query => format!("{}?{query}", request.path()),
    };
    let recorded = RecordedRequest {
        method: request.method().to_string(),
        path,
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: body.to_vec(),
        received_at: std::time::Instant::now(),
    };
    let key = route(&recorded.method, request.path());
    let reply = {
        let mut script = script.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        script.requests.push(recorded.clone());
        let once = script.once.get_mut(&key).and_then(VecDeque::pop_front);
        match once {
            Some(reply) => reply,
            None => match script.standing.get(&key).cloned() {
                Some(responder) => responder(&recorded),
                None => Reply::json(200, serde_json::json!({})),
            },
        }
    };
    let mut response = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(reply.status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in &reply.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.body(reply.body)
}
