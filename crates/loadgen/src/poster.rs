//! Webhooks posted over one keep-alive HTTP/1.1 connection, for the benchmark's heavy phases.
//!
//! The load generator shares the machine's cores with what it measures, so what it spends per
//! webhook is taken from the services. reqwest's per-request work (parsing the URL, building the
//! header map, its pool and its middleware) cost the load generator about as much CPU per webhook
//! as ingest spent handling it. A connection of hyper's own, with the headers built once, costs
//! a fraction of that.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Poster {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    authorization: HeaderValue,
    path: String,
}

impl Poster {
    /// Opens a connection to `addr` (`host:port`) for posts to `path` with the bearer `token`.
    pub async fn connect(addr: &str, path: &str, token: &str) -> anyhow::Result<Poster> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // The connection's reads and writes run on a task of their own until the sender is dropped.
        tokio::spawn(connection);
        Ok(Poster {
            sender,
            host: HeaderValue::from_str(addr)?,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))?,
            path: path.to_owned(),
        })
    }

    /// Posts `body` as JSON and returns the status once the whole answer is read, so that the
    /// connection is free for the next post.
    pub async fn post(&mut self, body: Bytes) -> anyhow::Result<StatusCode> {
        self.sender.ready().await?;
        let request = Request::post(self.path.as_str())
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        Ok(status)
    }
}
