//! Lua scripts: each runs atomically on the primary and is replicated as its effects.

use std::sync::LazyLock;

use redis::Script;

/// Append a message, deduplicated by its key (the client's id, or the host's own per-post key).
///
/// KEYS: meta, messages, pending, dedupe key.
/// ARGV: dedupe key TTL ms, action, then field/value pairs.
/// Returns `{created (1/0), id, fields-of-existing-entry, pending (1/0)}`; errors `NOROOM`.
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
    return {0, existing, entry[1][2], pending}
  end
  return {0, existing, {}, pending}
end
local retention = redis.call('HGET', KEYS[1], 'retention')
local fields = {}
for i = 3, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', retention, '*', unpack(fields))
if ARGV[2] == 'flag' then
  redis.call('SADD', KEYS[3], id)
end
redis.call('SET', KEYS[4], id, 'PX', ARGV[1])
return {1, id, {}, 0}
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

/// Move a relay cursor forward only. KEYS: cursor. ARGV: a stream id `<ms>-<seq>`. Returns 1 if
/// moved. Ids are compared as numbers (ms, then seq): `10-0` is after `9-5`.
pub static CURSOR_FORWARD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local current = redis.call('GET', KEYS[1])
if current then
  local cm, cs = parse(current)
  local nm, ns = parse(ARGV[1])
  if cm and (nm < cm or (nm == cm and ns <= cs)) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
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
/// key. ARGV: id, `approve`/`remove`, labels kept, decision memory ms. `approve` settles a
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
