//! The one loop of every stream consumer: read a batch, hand it to a [`Handler`], settle what the
//! handler says of each entry, and wait out outages with one [`Backoff`].
//!
//! - **Read** ([`Consumer::next_batch`]): abandoned entries first, then new ones, within the count
//!   and byte budget; undecodable and too-often-delivered entries are dead-lettered on the way.
//! - **Handle**: the handler does its work (one or more transactions) and answers with a
//!   [`Settled`]: what to acknowledge (its work committed), what to dead-letter now, and what to
//!   retry because a dependency is down. An entry it names in none of them is left pending: it
//!   comes back after the visibility timeout, and after `max_deliveries` lands in the dead-letter
//!   stream.
//! - **Settle**: acknowledged and dead-lettered, after the handler returned, so never before its
//!   commit.
//! - **Retry**: entries to retry stay held by this consumer and are kept alive (their idle time
//!   reset without counting a delivery, so that no other replica claims them during a plain
//!   outage); after a backoff they are handed to the handler again, before anything new is read.
//! - **Backoff**: Redis unreachable (reads) or a dependency of the handler down (retries): waits of
//!   100 ms doubling up to 5 s, with jitter, and at most half the visibility timeout, so that held
//!   entries are kept alive in time. A success starts again from 100 ms. Nothing is dropped and
//!   nothing crashes: the loop goes on until shutdown, and recovers by itself.
//! - **Shutdown**: the batch in hand is finished and settled; entries waiting out an outage are
//!   left pending, to be reclaimed. A read waits at most `block` for new entries, so shutdown is
//!   noticed within that.

use crate::backoff::Backoff;
use crate::{Consumer, Delivery};
use std::time::Duration;
use tocsin_domain::Message;
use tokio_util::sync::CancellationToken;

/// The work done on a stream's entries, batch by batch, by [`Consumer::run`].
pub trait Handler<T>: Send {
    /// Handles `batch` and says what became of each entry. `consumer` is the one the batch was read
    /// through, for its spans ([`Consumer::span`]).
    fn handle(&mut self, batch: Vec<Delivery<T>>, consumer: &Consumer<T>) -> impl Future<Output = Settled<T>> + Send;
}

/// What a [`Handler`] made of its batch.
pub struct Settled<T> {
    acked: Vec<String>,
    retried: Vec<Delivery<T>>,
    dead: Vec<(String, String)>,
}

impl<T> Default for Settled<T> {
    fn default() -> Self {
        Settled { acked: Vec::new(), retried: Vec::new(), dead: Vec::new() }
    }
}

impl<T> Settled<T> {
    /// The entry's work is done (committed, or nothing to do): acknowledge it.
    pub fn ack(&mut self, entry_id: String) {
        self.acked.push(entry_id);
    }

    pub fn ack_all(&mut self, batch: &[Delivery<T>]) {
        self.acked.extend(batch.iter().map(|delivery| delivery.entry_id.clone()));
    }

    /// A dependency of the work is down (PostgreSQL unreachable, a transaction contended): hold
    /// the entry, keep it alive, and hand it back after a backoff. Not counted as a delivery.
    pub fn retry(&mut self, delivery: Delivery<T>) {
        self.retried.push(delivery);
    }

    pub fn retry_all(&mut self, batch: impl IntoIterator<Item = Delivery<T>>) {
        self.retried.extend(batch);
    }

    /// The entry can never be handled: move it to the dead-letter stream now, with why.
    pub fn dead_letter(&mut self, entry_id: String, reason: impl Into<String>) {
        self.dead.push((entry_id, reason.into()));
    }
}

/// Several handlers' answers as one, as when a batch was handled in shards.
impl<T> FromIterator<Settled<T>> for Settled<T> {
    fn from_iter<I: IntoIterator<Item = Settled<T>>>(parts: I) -> Self {
        let mut all = Settled::default();
        for part in parts {
            all.acked.extend(part.acked);
            all.retried.extend(part.retried);
            all.dead.extend(part.dead);
        }
        all
    }
}

impl<T: Message> Consumer<T> {
    /// Reads the stream and hands each batch to `handler` until `shutdown` (the module's header
    /// says how). Creates the consumer group first, waiting for Redis if it must.
    pub async fn run<H: Handler<T>>(self, mut handler: H, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.backoff_cap());
        while let Err(error) = self.ensure_group().await {
            tracing::warn!(%error, stream = %self.key, "cannot create the consumer group yet");
            if !backoff.wait(&shutdown).await {
                return;
            }
        }
        backoff.reset();
        while !shutdown.is_cancelled() {
            let batch = match self.next_batch().await {
                Ok(batch) => {
                    backoff.reset();
                    batch
                }
                Err(error) => {
                    tracing::warn!(%error, stream = %self.key, "cannot read the stream");
                    backoff.wait(&shutdown).await;
                    continue;
                }
            };
            if !batch.is_empty() {
                self.handle_until_settled(&mut handler, batch, &shutdown).await;
            }
        }
        tracing::info!(stream = %self.key, consumer = %self.name, "consumer loop stopped");
    }

    /// Hands `batch` to `handler`, and what it asks to retry again after each backoff, until every
    /// entry is settled or shutdown comes.
    async fn handle_until_settled<H: Handler<T>>(
        &self,
        handler: &mut H,
        batch: Vec<Delivery<T>>,
        shutdown: &CancellationToken,
    ) {
        let mut backoff = Backoff::new(self.backoff_cap());
        let mut held = batch;
        loop {
            let settled = handler.handle(held, self).await;
            self.settle(&settled.acked, &settled.dead).await;
            held = settled.retried;
            if held.is_empty() {
                return;
            }
            let ids: Vec<String> = held.iter().map(|delivery| delivery.entry_id.clone()).collect();
            if let Err(error) = self.keep_alive(&ids).await {
                tracing::warn!(%error, stream = %self.key, entries = ids.len(), "cannot keep the held entries claimed");
            }
            if !backoff.wait(shutdown).await {
                tracing::info!(
                    stream = %self.key,
                    entries = ids.len(),
                    "stopping with entries still to retry; they stay pending and are reclaimed"
                );
                return;
            }
        }
    }

    /// Acknowledges and dead-letters what the handler settled. An acknowledgement that fails is
    /// not retried: the entry comes back, and handlers are idempotent.
    async fn settle(&self, acked: &[String], dead: &[(String, String)]) {
        if let Err(error) = self.ack(acked).await {
            tracing::warn!(
                %error,
                stream = %self.key,
                entries = acked.len(),
                "cannot acknowledge handled entries; they come back and change nothing twice"
            );
        }
        if !dead.is_empty()
            && let Err(error) = self.dead_letter_now(dead).await
        {
            tracing::warn!(
                %error,
                stream = %self.key,
                entries = dead.len(),
                "cannot dead-letter entries yet; they stay pending and come back"
            );
        }
    }

    /// Waits stay under half the visibility timeout, so that held entries are kept alive before
    /// another consumer may claim them.
    fn backoff_cap(&self) -> Duration {
        self.settings.visibility_timeout / 2
    }
}
