/**
 * The Lua scripts of the Redis directory (redis.ts, which describes the keys they keep): each change
 * of presence is one script, so that each transition is decided atomically, once for the cluster.
 */
/** Lua shared by the scripts: Redis's clock, and a user's live sockets. */
const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live(user_key, nodes_key, now)
  local fields = redis.call('HGETALL', user_key)
  local total = 0
  for i = 1, #fields, 2 do
    local field = fields[i]
    if string.sub(field, 1, 2) == 'n:' then
      local lease = redis.call('ZSCORE', nodes_key, string.sub(field, 3))
      if lease and tonumber(lease) >= now then total = total + tonumber(fields[i + 1]) end
    end
  end
  return total
end
-- After a user's holdings changed: the online transition, or the start of the grace delay.
local function settle(user_key, user, nodes_key, leaving_key, online_key, now, grace)
  local total = live(user_key, nodes_key, now)
  local since = redis.call('HGET', user_key, 'since')
  if total > 0 then
    if not since then
      redis.call('HSET', user_key, 'since', now)
      redis.call('INCR', online_key)
      return {'user.online', user, tostring(now)}
    end
    if redis.call('HDEL', user_key, 'off') == 1 then redis.call('ZREM', leaving_key, user) end
    return {}
  end
  if not since then
    redis.call('DEL', user_key)
    return {}
  end
  if redis.call('HSETNX', user_key, 'off', now) == 1 then
    redis.call('ZADD', leaving_key, now + grace, user)
    return {'leaving', user, tostring(now + grace)}
  end
  return {}
end
`;

/** KEYS: user, nodes, node's users, leaving, online. ARGV: node, user, sockets, grace. */
const HOLD_USER = `${COMMON}
local now = now_ms()
local field = 'n:' .. ARGV[1]
local sockets = tonumber(ARGV[3])
local before = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if sockets > 0 then
  redis.call('HSET', KEYS[1], field, sockets)
  redis.call('SADD', KEYS[3], ARGV[2])
  if before > 0 then return {} end
else
  if before == 0 then
    redis.call('SREM', KEYS[3], ARGV[2])
    return {}
  end
  redis.call('HDEL', KEYS[1], field)
  redis.call('SREM', KEYS[3], ARGV[2])
end
return settle(KEYS[1], ARGV[2], KEYS[2], KEYS[4], KEYS[5], now, tonumber(ARGV[4]))
`;

/** KEYS: scrapers, node's scrapers. ARGV: node, socket id, '1' held or '0'. */
const HOLD_SCRAPER = `${COMMON}
local now = now_ms()
local holder = redis.call('HGET', KEYS[1], ARGV[2])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[2])
  if holder == ARGV[1] then return {} end
  return {'scraper.connected', ARGV[2], tostring(now)}
end
redis.call('SREM', KEYS[2], ARGV[2])
if holder ~= ARGV[1] then return {} end
redis.call('HDEL', KEYS[1], ARGV[2])
return {'scraper.disconnected', ARGV[2], tostring(now)}
`;

/** KEYS: nodes. ARGV: node, lease ms. Renews the lease; answers 1 when it had not ended. */
const HEARTBEAT = `${COMMON}
local now = now_ms()
local lease = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if lease and tonumber(lease) >= now then return 1 end
return 0
`;

/** KEYS: nodes, leaving, online, scrapers. ARGV: key prefix, grace, batch. Answers transitions, then whether more is due. */
const SWEEP = `${COMMON}
local now = now_ms()
local p = ARGV[1]
local grace = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local out = {}
local more = 0
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 1)
for _, node in ipairs(dead) do
  local users_key = p .. 'node:' .. node .. ':users'
  local scrapers_key = p .. 'node:' .. node .. ':scrapers'
  for _, user in ipairs(redis.call('SPOP', users_key, budget)) do
    local user_key = p .. 'user:' .. user
    redis.call('HDEL', user_key, 'n:' .. node)
    local r = settle(user_key, user, KEYS[1], KEYS[2], KEYS[3], now, grace)
    for _, v in ipairs(r) do table.insert(out, v) end
  end
  for _, socket in ipairs(redis.call('SPOP', scrapers_key, budget)) do
    if redis.call('HGET', KEYS[4], socket) == node then
      redis.call('HDEL', KEYS[4], socket)
      table.insert(out, 'scraper.disconnected'); table.insert(out, socket); table.insert(out, tostring(now))
    end
  end
  if redis.call('SCARD', users_key) == 0 and redis.call('SCARD', scrapers_key) == 0 then
    redis.call('ZREM', KEYS[1], node)
  end
  more = 1
end
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, budget)
for _, user in ipairs(due) do
  redis.call('ZREM', KEYS[2], user)
  local user_key = p .. 'user:' .. user
  if live(user_key, KEYS[1], now) == 0 and redis.call('HGET', user_key, 'off') then
    local since = redis.call('HGET', user_key, 'since')
    redis.call('DEL', user_key)
    if since then redis.call('DECR', KEYS[3]) end
    table.insert(out, 'user.offline'); table.insert(out, user); table.insert(out, since or '')
  else
    redis.call('HDEL', user_key, 'off')
  end
end
if #due == budget then more = 1 end
table.insert(out, tostring(more))
return out
`;

/** KEYS: nodes. ARGV: key prefix, user ids. Answers per user: live sockets, since, and the live nodes. */
const READ = `${COMMON}
local now = now_ms()
local out = {}
for i = 2, #ARGV do
  local user_key = ARGV[1] .. 'user:' .. ARGV[i]
  local fields = redis.call('HGETALL', user_key)
  local total = 0
  local since = ''
  local nodes = {}
  for j = 1, #fields, 2 do
    local field = fields[j]
    if field == 'since' then since = fields[j + 1]
    elseif string.sub(field, 1, 2) == 'n:' then
      local node = string.sub(field, 3)
      local lease = redis.call('ZSCORE', KEYS[1], node)
      if lease and tonumber(lease) >= now then
        total = total + tonumber(fields[j + 1])
        table.insert(nodes, node)
      end
    end
  end
  table.insert(out, {tostring(total), since, nodes})
end
return out
`;

/** KEYS: nodes, scrapers. ARGV: socket id. Answers the node holding it while its lease holds, else false. */
const READ_SCRAPER = `${COMMON}
local node = redis.call('HGET', KEYS[2], ARGV[1])
if not node then return false end
local lease = redis.call('ZSCORE', KEYS[1], node)
if lease and tonumber(lease) >= now_ms() then return node end
return false
`;

/** What READ answers per user: sockets, online since, and the nodes holding the user. */
export type Row = [string, string, string[]];

/** The scripts as the commands ioredis defines for them. */
export interface Scripts {
  gsPresenceHoldUser(...args: (string | number)[]): Promise<string[]>;
  gsPresenceHoldScraper(...args: (string | number)[]): Promise<string[]>;
  gsPresenceHeartbeat(...args: (string | number)[]): Promise<number>;
  gsPresenceSweep(...args: (string | number)[]): Promise<string[]>;
  gsPresenceRead(...args: (string | number)[]): Promise<Row[]>;
  gsPresenceReadScraper(...args: (string | number)[]): Promise<string | null>;
}

/** Each script with the command name ioredis defines for it and its number of keys. */
export const SCRIPTS: readonly (readonly [keyof Scripts, number, string])[] = [
  ['gsPresenceHoldUser', 5, HOLD_USER],
  ['gsPresenceHoldScraper', 2, HOLD_SCRAPER],
  ['gsPresenceHeartbeat', 1, HEARTBEAT],
  ['gsPresenceSweep', 4, SWEEP],
  ['gsPresenceRead', 1, READ],
  ['gsPresenceReadScraper', 2, READ_SCRAPER],
];
