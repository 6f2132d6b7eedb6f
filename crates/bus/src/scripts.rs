//! The Lua scripts of the bus. Each runs inside Redis, atomically, so that what a consumer
//! takes is decided by id and size before any payload leaves Redis: a batch never grows past its
//! byte budget, and an entry delivered too often moves to the dead-letter stream without the
//! consumer ever holding it. Consumers read plainly while no large entry is ahead, and size their
//! reads with [`READ_WITHIN_BUDGET`] only when one may be: [`ADD_LARGE`] marks those.
//!
//! They are sent with EVAL each time (a few hundred bytes per batch); Redis keeps them compiled.
//! Stream ids with `(` (exclusive ranges) need Redis 6.2, as the rest of the bus does.

/// Appends a large entry (over `LARGE_ENTRY_BYTES`) to the stream and keeps its id beside the
/// stream as the newest large one, so consumers know to size the reads that may reach it.
///
/// `KEYS[1]` the stream, `KEYS[2]` the large-entry mark; `ARGV` the field and its value. Replies
/// with the entry's id, as XADD.
pub(crate) const ADD_LARGE: &str = r#"
local id = redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], id)
return id
"#;

/// Delivers to a consumer the entries its group has not delivered yet, oldest first, as
/// XREADGROUP would: at most `count` of them, and no more once their fields' bytes would pass
/// `budget`. `used` is what the batch already holds; into an empty batch the first entry goes
/// whatever its size, so an entry larger than the budget is still read, alone. Entries are sized
/// with XRANGE in small steps, so Redis never copies much more than the batch it hands out.
///
/// `KEYS[1]` the stream; `ARGV` group, consumer, count, budget, used. Replies as XREADGROUP, or
/// nil when there is nothing to deliver.
pub(crate) const READ_WITHIN_BUDGET: &str = r#"
local group, consumer = ARGV[1], ARGV[2]
local count, budget, used = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local last
for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  for i = 1, #info, 2 do
    if info[i] == 'name' and info[i + 1] ~= group then break end
    if info[i] == 'last-delivered-id' then last = info[i + 1] end
  end
  if last then break end
end
if not last then
  -- No such group: let XREADGROUP answer with its own NOGROUP error.
  return redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', KEYS[1], '>')
end
local take, bytes, step, full = 0, used, 8, false
while take < count and not full do
  local wanted = math.min(step, count - take)
  local entries = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', wanted)
  for _, entry in ipairs(entries) do
    local size = 0
    for _, part in ipairs(entry[2]) do size = size + #part end
    if bytes + size > budget and (take > 0 or used > 0) then
      full = true
      break
    end
    take, bytes, last = take + 1, bytes + size, entry[1]
  end
  if #entries < wanted then break end
  step = math.min(step * 2, 128)
end
if take == 0 then return false end
return redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', take, 'STREAMS', KEYS[1], '>')
"#;

/// Claims pending entries idle for at least `min_idle` ms, in the order given, as XCLAIM does
/// (which counts a delivery), and stops before the entry that would take the claimed bytes past
/// `budget`; the first is claimed whatever its size. An entry another consumer claimed meanwhile
/// is skipped: XCLAIM checks the idle time again. An id whose entry is no longer on the stream is
/// acknowledged, since there is nothing left to deliver.
///
/// `KEYS[1]` the stream; `ARGV` group, consumer, min idle ms, budget, then the ids. Replies as
/// XCLAIM.
pub(crate) const CLAIM_WITHIN_BUDGET: &str = r#"
local group, consumer, min_idle, budget = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local claimed, bytes = {}, 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local entry = redis.call('XRANGE', KEYS[1], id, id)[1]
  if entry then
    local size = 0
    for _, part in ipairs(entry[2]) do size = size + #part end
    if #claimed > 0 and bytes + size > budget then break end
    local got = redis.call('XCLAIM', KEYS[1], group, consumer, min_idle, id)[1]
    if got then
      claimed[#claimed + 1] = got
      bytes = bytes + size
    end
  else
    redis.call('XACK', KEYS[1], group, id)
  end
end
return claimed
"#;

/// Takes pending entries idle for at least `min_idle` ms by id (XCLAIM … JUSTID, which neither
/// returns the entry nor counts a delivery), copies each one's envelope to the dead-letter stream
/// with why, and acknowledges it. The payload stays inside Redis.
///
/// `KEYS[1]` the stream, `KEYS[2]` its dead-letter stream; `ARGV` group, consumer, min idle ms,
/// the dead-letter stream's MINID, then pairs of id and reason. Replies with the ids moved.
pub(crate) const DEAD_LETTER_BY_ID: &str = r#"
local group, consumer, min_idle, minid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local moved = {}
for i = 5, #ARGV, 2 do
  local id, reason = ARGV[i], ARGV[i + 1]
  if redis.call('XCLAIM', KEYS[1], group, consumer, min_idle, id, 'JUSTID')[1] then
    local envelope = ''
    local entry = redis.call('XRANGE', KEYS[1], id, id)[1]
    if entry then
      for j = 1, #entry[2], 2 do
        if entry[2][j] == 'envelope' then envelope = entry[2][j + 1] end
      end
    end
    redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'stream', KEYS[1], 'entry_id', id,
      'group', group, 'reason', reason, 'envelope', envelope)
    redis.call('XACK', KEYS[1], group, id)
    moved[#moved + 1] = id
  end
end
return moved
"#;
