"""The Lua scripts behind ``RedisQueueStore``: each mutating operation is one script.

Redis runs a script to the end before serving anyone else, and with AOF on it logs the
script's writes as one ``MULTI``/``EXEC`` block, which a restart replays whole or not at
all.  So a track moves between the pending list and the slot in one step that a crash can
not cut in half.

Keys (``KEYS``): 1 pending list (track JSON, head first), 2 now-playing hash, 3 loop mode
string, 4 the set of chats with state.  ``ARGV[1]`` is always the chat id.  With fencing
(several processes) ``KEYS[5]`` is the fencing counter of the chat's assistant lease and
the last ``ARGV`` this process's token: a script run for a stale holder is refused whole.

The slot is a hash (``id``, ``track`` = the track's JSON, ``started_at``, ``position``,
``updated_at``, ``paused``) so that the scripts never re-encode JSON: Redis's cjson would
round numbers to 14 significant digits (Telegram user ids have more).  A replayed track
gets its new id by replacing the ``"id":"<old>"`` member in the JSON text.  That member is
unique: inside a JSON string every quote is escaped, so ``"id":"`` can only be the key.
Numbers are returned as strings because Redis truncates Lua numbers to integers.

The chat set (``KEYS[4]``) holds exactly the chats with a slot or pending tracks.  The
hot scripts (enqueue, start_next, advance) update it only where their own reads show the
chat gaining its first state or losing its last, instead of ``touch()`` (an EXISTS and a
set write on every call); the rarer ones call ``touch()``.
"""

from __future__ import annotations

# The shebang (Redis 7+) declares the scripts as writing, so Redis checks for OOM, a
# read-only replica or failing persistence before running one, not half-way through.
_COMMON = """#!lua
local pending, slot_key, loop_key, chats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local chat = ARGV[1]

-- Fenced writes (several processes): KEYS[5] is the counter of the chat's assistant lease
-- and the last ARGV the token this process holds; a newer holder refuses the whole script
-- before it writes anything.
if KEYS[5] then
  if tonumber(redis.call('GET', KEYS[5]) or '0') > tonumber(ARGV[#ARGV]) then
    return redis.error_reply('FENCED a newer holder of the chat exists')
  end
end

local function touch()
  if redis.call('EXISTS', pending, slot_key) > 0 then
    redis.call('SADD', chats_key, chat)
  else
    redis.call('SREM', chats_key, chat)
  end
end

local function read_slot()
  local s = redis.call('HMGET', slot_key, 'track', 'started_at', 'position', 'updated_at',
                       'paused', 'id')
  if not s[1] then return nil end
  return s
end

local function fill_slot(json, id, now)
  redis.call('DEL', slot_key)
  redis.call('HSET', slot_key, 'id', id, 'track', json, 'started_at', now,
             'position', '0', 'updated_at', now, 'paused', '0')
  return {json, now, '0', now, '0', id}
end

local function pop_into_slot(now)
  local head = redis.call('LINDEX', pending, 0)
  if not head then return nil end
  local id = cjson.decode(head)['id']  -- before any write: a script error rolls nothing back
  redis.call('LPOP', pending)
  return fill_slot(head, id, now)
end

local function with_id(json, old, new)
  local member = '"id":"' .. old .. '"'
  local first, last = string.find(json, member, 1, true)
  if not first then error('track JSON without its id member') end
  return string.sub(json, 1, first - 1) .. '"id":"' .. new .. '"' .. string.sub(json, last + 1)
end

local function push_all(items)
  redis.call('DEL', pending)
  for i = 1, #items, 1000 do
    redis.call('RPUSH', pending, unpack(items, i, math.min(i + 999, #items)))
  end
end

local function slot_reply(prefix, s)
  if s then
    for i = 1, 5 do prefix[#prefix + 1] = s[i] end
  end
  return prefix
end
"""

# ARGV: chat, track JSON, limit.  Returns the 1-based position, or -1 when full.
ENQUEUE = (
    _COMMON
    + """
local length = redis.call('LLEN', pending)
if length >= tonumber(ARGV[3]) then return -1 end
local position = redis.call('RPUSH', pending, ARGV[2])
if length == 0 then redis.call('SADD', chats_key, chat) end  -- may have had no state
return position
"""
)

# ARGV: chat, limit, then the batch's track JSON in order (with fencing the token follows).
# Appends the prefix that fits; returns {first position, how many}, or {-1, 0} when full.
ENQUEUE_MANY = (
    _COMMON
    + """
local last = #ARGV
if KEYS[5] then last = last - 1 end
local length = redis.call('LLEN', pending)
local fit = math.min(last - 2, tonumber(ARGV[2]) - length)
if fit <= 0 then return {-1, 0} end
for i = 3, fit + 2, 1000 do
  redis.call('RPUSH', pending, unpack(ARGV, i, math.min(i + 999, fit + 2)))
end
touch()
return {length + 1, fit}
"""
)

# ARGV: chat, now.  Returns the slot's five fields, or an empty array.
START_NEXT = (
    _COMMON
    + """
local s = read_slot()
if not s then
  s = pop_into_slot(ARGV[2])  -- moves state within the chat: its membership holds
  if not s then redis.call('SREM', chats_key, chat) end  -- nothing at all: none
end
return slot_reply({}, s)
"""
)

# ARGV: chat, expected id, now, natural ('1'/'0'), a fresh id for a replayed track.
# Returns {advanced, finished JSON, slot fields...}.
ADVANCE = (
    _COMMON
    + """
local expected, now, natural, fresh = ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5]
local s = read_slot()
if not s or s[6] ~= expected then
  return slot_reply({'0', ''}, s)
end
local finished = s[1]
local mode = redis.call('GET', loop_key) or 'off'
local replay = with_id(finished, expected, fresh)  -- may raise: nothing is written yet
redis.call('DEL', slot_key)
local current
if mode == 'track' and natural then
  current = fill_slot(replay, fresh, now)
else
  if mode == 'queue' then
    redis.call('RPUSH', pending, replay)
  end
  current = pop_into_slot(now)
end
-- the chat had state (a slot); with no new slot pending is empty too: it has none now
if not current then redis.call('SREM', chats_key, chat) end
return slot_reply({'1', finished}, current)
"""
)

# ARGV: chat, position.  Returns {'ok', track JSON} or {'bad', length}.
REMOVE = (
    _COMMON
    + """
local position, length = tonumber(ARGV[2]), redis.call('LLEN', pending)
if position < 1 or position > length then return {'bad', tostring(length)} end
local item = redis.call('LINDEX', pending, position - 1)
-- a tombstone no track JSON can equal (JSON starts with '{') marks the exact element
redis.call('LSET', pending, position - 1, '~removed~')
redis.call('LREM', pending, 1, '~removed~')
touch()
return {'ok', item}
"""
)

# ARGV: chat, track id.  Returns {'ok', track JSON} or {'none'} when no pending track has it.
# The id is found as its JSON member (see the module doc: ``"id":"`` can only be the key).
REMOVE_TRACK = (
    _COMMON
    + """
local member = '"id":"' .. ARGV[2] .. '"'
local items = redis.call('LRANGE', pending, 0, -1)
for i, item in ipairs(items) do
  if string.find(item, member, 1, true) then
    redis.call('LSET', pending, i - 1, '~removed~')
    redis.call('LREM', pending, 1, '~removed~')
    touch()
    return {'ok', item}
  end
end
return {'none'}
"""
)

# ARGV: chat, src, dst.  Returns {'ok', track JSON} or {'bad', bad position, length}.
MOVE = (
    _COMMON
    + """
local src, dst = tonumber(ARGV[2]), tonumber(ARGV[3])
local items = redis.call('LRANGE', pending, 0, -1)
for _, p in ipairs({src, dst}) do
  if p < 1 or p > #items then return {'bad', tostring(p), tostring(#items)} end
end
local moved = table.remove(items, src)
table.insert(items, dst, moved)
push_all(items)
return {'ok', moved}
"""
)

# ARGV: chat, expected length, then a permutation of 1..length (new[i] = old[perm[i]]).
# Returns 1, or 0 when the length changed meanwhile (the caller draws again).
SHUFFLE = (
    _COMMON
    + """
local items = redis.call('LRANGE', pending, 0, -1)
if #items ~= tonumber(ARGV[2]) then return 0 end
if #items < 2 then return 1 end
local shuffled = {}
for i = 1, #items do shuffled[i] = items[tonumber(ARGV[i + 2])] end
push_all(shuffled)
return 1
"""
)

# ARGV: chat, include current ('1'/'0').  Returns how many tracks were dropped.
CLEAR = (
    _COMMON
    + """
local count = redis.call('LLEN', pending)
redis.call('DEL', pending)
if ARGV[2] == '1' then
  count = count + redis.call('DEL', slot_key)
end
touch()
return count
"""
)

# ARGV: chat, track id, position, paused ('1'/'0'), now.  Returns 1, or 0 when stale.
CHECKPOINT = (
    _COMMON
    + """
if redis.call('HGET', slot_key, 'id') ~= ARGV[2] then return 0 end
redis.call('HSET', slot_key, 'position', ARGV[3], 'paused', ARGV[4], 'updated_at', ARGV[5])
return 1
"""
)

# ARGV: chat, loop mode.
SET_LOOP = (
    _COMMON
    + """
redis.call('SET', loop_key, ARGV[2])
return 1
"""
)

# KEYS: pending, slot, loop of one chat (no chat set, no fencing: it writes nothing).
# Returns {slot fields (track, started_at, position, updated_at, paused; nil when empty),
# pending JSON items, loop mode or ''}: one chat's consistent snapshot in one command.
SNAPSHOT = """#!lua flags=no-writes
local s = redis.call('HMGET', KEYS[2], 'track', 'started_at', 'position', 'updated_at',
                     'paused')
return {s, redis.call('LRANGE', KEYS[1], 0, -1), redis.call('GET', KEYS[3]) or ''}
"""
