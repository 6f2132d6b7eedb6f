//! Reading a stream without a consumer group: for readers that follow the stream for what it says
//! now (query's live feed to the dashboard) rather than to work through every entry exactly once.
//! Nothing is acknowledged and nothing is left pending.

use crate::envelope::{self, Envelope};
use crate::{Bus, BusError, Stream};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use std::time::Duration;
use tocsin_domain::Message;

/// One decoded entry, with the stream's own id for it (which orders entries and resumes a reader).
#[derive(Debug, Clone, PartialEq)]
pub struct TailEntry<T> {
    pub entry_id: String,
    pub envelope: Envelope<T>,
}

/// What a page of entries after a given id says.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub entries: Vec<TailEntry<T>>,
    /// The id of the last entry read, decodable or not, to resume from.
    pub last_id: Option<String>,
}

impl Bus {
    /// Entries of `stream` after `after` (exclusive; `$` means "from now on"), at most `count`,
    /// waiting up to `block` when there are none yet. Entries that do not decode are skipped with a
    /// warning: a follower has no dead-letter duty, the consumer groups keep that.
    pub async fn read_after<T: Message>(
        &self,
        stream: Stream,
        after: &str,
        count: usize,
        block: Duration,
    ) -> Result<Page<T>, BusError> {
        let mut conn = self.connection_waiting(block).await?;
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.key(stream))
            .arg(after)
            .query_async(&mut conn)
            .await?;
        let ids: Vec<StreamId> = reply.into_iter().flat_map(|reply| reply.keys).flat_map(|key| key.ids).collect();
        Ok(decode_page(stream, ids))
    }

    /// Entries of `stream` strictly after `after`, oldest first, at most `count`, without waiting.
    pub async fn range_after<T: Message>(
        &self,
        stream: Stream,
        after: &str,
        count: usize,
    ) -> Result<Page<T>, BusError> {
        let mut conn = self.connection().await?;
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.key(stream))
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        Ok(decode_page(stream, reply.ids))
    }

    /// The id of the oldest entry still on `stream`, if any: a reader that last saw an older id has
    /// missed entries that trimming removed.
    pub async fn first_entry_id(&self, stream: Stream) -> Result<Option<String>, BusError> {
        let mut conn = self.connection().await?;
        let reply: StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.key(stream))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        Ok(reply.ids.into_iter().next().map(|entry| entry.id))
    }

    /// The id of the newest entry on `stream`, if any.
    pub async fn last_entry_id(&self, stream: Stream) -> Result<Option<String>, BusError> {
        let mut conn = self.connection().await?;
        let reply: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(self.key(stream))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        Ok(reply.ids.into_iter().next().map(|entry| entry.id))
    }
}

fn decode_page<T: Message>(stream: Stream, ids: Vec<StreamId>) -> Page<T> {
    let last_id = ids.last().map(|entry| entry.id.clone());
    let entries = ids
        .into_iter()
        .filter_map(|entry| match envelope::decode::<T>(envelope::field_of(&entry)) {
            Ok(envelope) => Some(TailEntry { entry_id: entry.id, envelope }),
            Err(reason) => {
                tracing::warn!(stream = stream.name(), entry.id = %entry.id, reason, "skipping an undecodable entry");
                None
            }
        })
        .collect();
    Page { entries, last_id }
}

/// Whether stream id `a` is older than `b` (ids are `milliseconds-sequence`). Unparseable ids sort
/// first, so a garbage `Last-Event-ID` counts as "too old" and the reader starts over.
pub fn entry_id_before(a: &str, b: &str) -> bool {
    parse_entry_id(a) < parse_entry_id(b)
}

/// `milliseconds-sequence`, or `None` when it is not a stream id.
pub fn parse_entry_id(id: &str) -> Option<(u64, u64)> {
    let (millis, sequence) = id.split_once('-')?;
    Some((millis.parse().ok()?, sequence.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_order_by_time_then_sequence() {
        assert!(entry_id_before("1-5", "2-0"));
        assert!(entry_id_before("10-1", "10-2"));
        assert!(!entry_id_before("10-2", "10-2"));
        assert!(entry_id_before("9-0", "10-0"), "numerically, not as text");
        assert!(entry_id_before("garbage", "1-0"));
        assert_eq!(parse_entry_id("1764201234567-3"), Some((1764201234567, 3)));
        assert_eq!(parse_entry_id("1764201234567"), None);
    }
}
