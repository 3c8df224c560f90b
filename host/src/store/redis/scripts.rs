//! Lua scripts: each runs atomically on the primary and is replicated as its effects.

use std::sync::LazyLock;

use redis::Script;

/// What a post needs before it is judged, in one round trip: the room, the sender's roles in
/// it and, for a post with a client id, the message stored under it.
///
/// KEYS: meta, members, moderators, client-id key (any key when there is none), messages,
/// pending. ARGV: sender, `1` if the post has a client id.
/// Returns `{meta fields, member (1/0), moderator (1/0)}`, followed for a known client id by
/// `id, fields-of-its-entry (empty if trimmed or removed), pending (1/0)`; errors `NOROOM`.
pub static PREPARE_POST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then
  return redis.error_reply('NOROOM no such room')
end
local member = redis.call('SISMEMBER', KEYS[2], ARGV[1])
local moderator = redis.call('SISMEMBER', KEYS[3], ARGV[1])
if ARGV[2] == '1' then
  local existing = redis.call('GET', KEYS[4])
  if existing then
    local entry = redis.call('XRANGE', KEYS[5], existing, existing)
    local fields = {}
    if entry[1] then fields = entry[1][2] end
    return {meta, member, moderator, existing, fields, redis.call('SISMEMBER', KEYS[6], existing)}
  end
end
return {meta, member, moderator}
"#,
    )
});

/// Append a message, deduplicated by its key (the client's id, or the host's own per-post key),
/// keep its full decision trace beside it (moderators read it; the message entry keeps only
/// the reasons, so history pages stay small), and mark the room for the relay in the same
/// step, so no crash can leave a stored message unmarked.
///
/// KEYS: meta, messages, pending, dedupe key, the relay's dirty set, traces, relay cursor.
/// ARGV: dedupe key TTL ms, action, room id, full trace, then field/value pairs.
/// Returns `{created (1/0), id, fields-of-existing-entry, pending (1/0), previous entry id,
/// relay cursor}` (the last two `''` when unknown or absent); errors `NOROOM`.
pub static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOROOM no such room')
end
local existing = redis.call('GET', KEYS[4])
if existing then
  -- A write, so that the WAIT after this script covers the replication offset now: a WAIT
  -- after a script that wrote nothing would prove nothing about the original message.
  redis.call('PEXPIRE', KEYS[4], ARGV[1])
  local entry = redis.call('XRANGE', KEYS[2], existing, existing)
  local pending = redis.call('SISMEMBER', KEYS[3], existing)
  if entry[1] then
    return {0, existing, entry[1][2], pending, '', ''}
  end
  return {0, existing, {}, pending, '', ''}
end
local retention = redis.call('HGET', KEYS[1], 'retention')
local before = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local previous = ''
if before[1] then previous = before[1][1] end
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', retention, '*', unpack(fields))
redis.call('XADD', KEYS[6], 'MAXLEN', '~', retention, id, 'trace', ARGV[4])
if ARGV[2] == 'flag' then
  redis.call('SADD', KEYS[3], id)
end
redis.call('SET', KEYS[4], id, 'PX', ARGV[1])
redis.call('SADD', KEYS[5], ARGV[3])
return {1, id, {}, 0, previous, redis.call('GET', KEYS[7]) or ''}
"#,
    )
});

/// What the relay publishes next from one room, in one round trip: the entries after its
/// cursor (with whether each is pending, and the full trace of pending ones, which go to
/// moderators) and the queue of approved messages (with their entries). With a fence key, it
/// is incremented too, so that a `WAIT` after this script proves replicas hold all it read.
///
/// KEYS: meta, messages, cursor, approved, pending, traces, fence.
/// ARGV: batch size, `1` to write the fence.
/// Returns `{entries, pending flags, traces of pending entries ('' otherwise), approved ids,
/// their entries (false when gone)}`; errors `NOROOM`.
pub static RELAY_READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOROOM no such room')
end
local cursor = redis.call('GET', KEYS[3])
local start = '-'
if cursor then start = '(' .. cursor end
local entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', ARGV[1])
local flags, traces = {}, {}
for i, entry in ipairs(entries) do
  local pending, trace = 0, ''
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 'action' and fields[j + 1] == 'flag' then
      pending = redis.call('SISMEMBER', KEYS[5], entry[1])
    end
  end
  if pending == 1 then
    local t = redis.call('XRANGE', KEYS[6], entry[1], entry[1])
    if t[1] then trace = t[1][2][2] end
  end
  flags[i] = pending
  traces[i] = trace
end
local approved = redis.call('LRANGE', KEYS[4], 0, tonumber(ARGV[1]) - 1)
local approved_entries = {}
for i, id in ipairs(approved) do
  local e = redis.call('XRANGE', KEYS[2], id, id)
  if e[1] then approved_entries[i] = e[1][2] else approved_entries[i] = false end
end
if ARGV[2] == '1' then
  redis.call('INCR', KEYS[7])
end
return {entries, flags, traces, approved, approved_entries}
"#,
    )
});

/// After the relay published a batch of one room: move its cursor forward only (two hosts'
/// relays may finish in either order; ids compare as numbers, ms then seq), take the
/// published approvals off the queue (each once), and clear the room's dirty mark when nothing
/// is left after the cursor and no approval waits, in the same step, so an append that lands
/// meanwhile keeps the mark.
///
/// KEYS: cursor, approved, messages, dirty set. ARGV: the last published id (or ''), room id,
/// then the published approved ids. Returns 1 if the room is settled (unmarked), 0 if more is
/// waiting.
pub static RELAY_COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function after(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am > bm or (am == bm and as > bs)
end
local current = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' and (not current or after(ARGV[1], current)) then
  redis.call('SET', KEYS[1], ARGV[1])
  current = ARGV[1]
end
for i = 3, #ARGV do
  redis.call('LREM', KEYS[2], 1, ARGV[i])
end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local caught_up = (not last[1]) or (current and not after(last[1][1], current))
if caught_up and redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
  return 1
end
return 0
"#,
    )
});

/// Create a room unless it exists. KEYS: meta. ARGV: field/value pairs. Returns 1 if created.
pub static CREATE_ROOM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"#,
    )
});

/// Read a key and refresh its TTL (a write, for a following `WAIT`). KEYS: key. ARGV: TTL ms.
/// Returns the value, or nil.
pub static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value
"#,
    )
});

/// Compare-and-set. KEYS: key. ARGV: the value expected (empty: the key must not exist), the
/// new value. Returns 1 if written, 0 if the key held something else.
pub static SET_IF_UNCHANGED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"#,
    )
});

/// A moderator's decision. KEYS: pending, messages, approved, labels, the message's decision
/// key, the relay's dirty set. ARGV: id, `approve`/`remove`, labels kept, decision memory ms,
/// room id. An approval marks the room for the relay in the same step. `approve` settles a
/// flagged message and queues it for the relay; `remove` deletes any stored message. Either
/// keeps the text as a training label and is remembered, so that a retry answers as it did.
/// Returns 1 if decided now, 2 if this decision was made before (a retry), 3 if the message
/// was removed (it cannot be approved), 0 if there is nothing to decide. An approved message
/// can still be removed later.
pub static MODERATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local prior = redis.call('GET', KEYS[5])
if prior == ARGV[2] then return 2 end
if prior == 'remove' then return 3 end
local entry = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #entry == 0 then
  redis.call('SREM', KEYS[1], ARGV[1])
  return 0
end
local was = redis.call('SREM', KEYS[1], ARGV[1])
local label
if ARGV[2] == 'remove' then
  redis.call('XDEL', KEYS[2], ARGV[1])
  label = 'spam'
elseif was == 1 then
  redis.call('RPUSH', KEYS[3], ARGV[1])
  redis.call('SADD', KEYS[6], ARGV[5])
  label = 'ham'
else
  return 0
end
local fields = entry[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'text' then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*',
      'message', ARGV[1], 'label', label, 'text', fields[i + 1])
  end
end
redis.call('SET', KEYS[5], ARGV[2], 'PX', ARGV[4])
return 1
"#,
    )
});

/// The error code [`INCR`] answers when the key holds something other than an integer.
pub const NOT_INTEGER: &str = "NOTINTEGER";

/// Increment with a TTL set on creation. KEYS: key. ARGV: delta, TTL ms (or empty). Answers
/// the error code [`NOT_INTEGER`] when the key holds something else.
pub static INCR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  else
    redis.call('SET', KEYS[1], ARGV[1])
  end
  return tonumber(ARGV[1])
end
local value = redis.call('GET', KEYS[1])
if not string.match(value, '^%-?%d+$') then
  return redis.error_reply('NOTINTEGER the value is not an integer')
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"#,
    )
});

/// A batch of plugin state operations, all or nothing: every result is computed first (an
/// `incr` of a value that is not an integer answers [`NOT_INTEGER`] with the operation's
/// index, before anything is written), then each key touched is written once.
///
/// KEYS: one per operation. ARGV: per operation, kind (`g` get, `s` set, `i` incr), value or
/// delta, TTL ms (or empty). Returns per operation `{'v', value or nil}`, `{'d'}` or
/// `{'c', n}`.
pub static KV_BATCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local seen = {}
local order = {}
local function entry(k)
  if not seen[k] then
    seen[k] = {v = redis.call('GET', k) or false}
    order[#order + 1] = k
  end
  return seen[k]
end
local out = {}
for i = 1, #KEYS do
  local e = entry(KEYS[i])
  local kind, arg, ttl = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  if kind == 'g' then
    out[i] = {'v', e.v}
  elseif kind == 's' then
    e.v, e.fresh, e.ttl = arg, true, ttl
    out[i] = {'d'}
  else
    local created = e.v == false
    local base = 0
    if not created then
      if not string.match(e.v, '^%-?%d+$') then
        return redis.error_reply('NOTINTEGER ' .. i)
      end
      base = tonumber(e.v)
    end
    local n = base + tonumber(arg)
    e.v = string.format('%.0f', n)
    if created then
      e.fresh, e.ttl = true, ttl
    elseif not e.fresh then
      e.changed = true
    end
    out[i] = {'c', n}
  end
end
for _, k in ipairs(order) do
  local e = seen[k]
  if e.fresh then
    if e.ttl ~= '' then
      redis.call('SET', k, e.v, 'PX', e.ttl)
    else
      redis.call('SET', k, e.v)
    end
  elseif e.changed then
    redis.call('SET', k, e.v, 'KEEPTTL')
  end
end
return out
"#,
    )
});
