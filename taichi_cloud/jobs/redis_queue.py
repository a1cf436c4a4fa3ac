"""The job queue on Redis (``QUEUE_URL=redis://host:port/db[?prefix=NAME]``) for shared workers.

Why not arq: the worker, the retries and the failure hooks are ours already (``worker.py``) and
callers rely on the :class:`~.queue.JobQueue` protocol: claim with a lease, heartbeats that
report progress and tell a worker it lost its job, cancellation by ``ref``, stable job ids that
re-run once finished, counts by state. arq owns its own worker loop and result model, so this
is a small layer of Lua scripts instead. Every state change is one script, so it is atomic: a
job is claimed by exactly one worker, and only the worker holding the lease can complete it.
Times are the Redis server's clock (``TIME``), so workers on machines with skewed clocks agree.

Keys (``P`` is the prefix; one Redis, not a cluster: scripts build key names from it):

```
P:job:<id>        hash: kind payload state tries max_tries ref timeout progress error owner
                        run_at lease_expires created updated finished (times in ms) seq
P:seq             enqueue counter (orders jobs_for)
P:due:<kind>      zset of queued job ids by run_at
P:leases:<kind>   zset of running job ids by lease expiry (an expired one is taken again)
P:ref:<ref>       set of job ids about one thing (a media id)
P:counts          hash: jobs per state
```
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis

from ..util import new_id
from .queue import ACTIVE_STATES, CancelListener, Job

DEFAULT_PREFIX = "taichi:jobs"

_COMMON = """
redis.replicate_commands()
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function move_count(p, from, to)
  if from then redis.call('HINCRBY', p .. ':counts', from, -1) end
  if to then redis.call('HINCRBY', p .. ':counts', to, 1) end
end
"""

_ENQUEUE = _COMMON + """
local p, id, kind, payload, ref = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = p .. ':job:' .. id
local state = redis.call('HGET', jk, 'state')
if state == 'queued' or state == 'running' then return 0 end
local now = now_ms()
local old_ref = redis.call('HGET', jk, 'ref')
if old_ref and old_ref ~= '' then redis.call('SREM', p .. ':ref:' .. old_ref, id) end
redis.call('DEL', jk)
local run_at = now + tonumber(ARGV[8])
redis.call('HSET', jk, 'kind', kind, 'payload', payload, 'state', 'queued', 'tries', 0,
  'max_tries', ARGV[6], 'ref', ref, 'timeout', ARGV[7], 'progress', 0, 'error', '',
  'owner', '', 'run_at', run_at, 'lease_expires', '', 'created', now, 'updated', now,
  'finished', '', 'seq', redis.call('INCR', p .. ':seq'))
redis.call('ZADD', p .. ':due:' .. kind, run_at, id)
if ref ~= '' then redis.call('SADD', p .. ':ref:' .. ref, id) end
move_count(p, state, 'queued')
return 1
"""

# Returns {flag, id} where flag is 'run' or 'exhausted', or nil when nothing is due.
_CLAIM = _COMMON + """
local p, owner, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local pick, pick_kind, pick_score, expired = nil, nil, nil, false
for i = 4, #ARGV do
  local kind = ARGV[i]
  local ids = redis.call('ZRANGEBYSCORE', p .. ':leases:' .. kind, '-inf', now, 'LIMIT', 0, 1)
  if #ids > 0 then pick, pick_kind, expired = ids[1], kind, true break end
end
if not pick then
  for i = 4, #ARGV do
    local kind = ARGV[i]
    local due = redis.call('ZRANGEBYSCORE', p .. ':due:' .. kind, '-inf', now, 'WITHSCORES',
                           'LIMIT', 0, 1)
    if #due > 0 and (pick_score == nil or tonumber(due[2]) < pick_score) then
      pick, pick_kind, pick_score = due[1], kind, tonumber(due[2])
    end
  end
end
if not pick then return nil end
local jk = p .. ':job:' .. pick
local tries = tonumber(redis.call('HGET', jk, 'tries'))
if expired and tries >= tonumber(redis.call('HGET', jk, 'max_tries')) then
  redis.call('ZREM', p .. ':leases:' .. pick_kind, pick)
  redis.call('HSET', jk, 'state', 'failed', 'owner', '', 'lease_expires', '', 'updated', now,
    'finished', now, 'error',
    'the worker running it stopped ' .. tries .. ' times (lease expired)')
  move_count(p, 'running', 'failed')
  return {'exhausted', pick}
end
redis.call('ZREM', p .. ':due:' .. pick_kind, pick)
redis.call('ZADD', p .. ':leases:' .. pick_kind, now + lease, pick)
redis.call('HSET', jk, 'state', 'running', 'tries', tries + 1, 'owner', owner,
  'lease_expires', now + lease, 'updated', now)
if not expired then move_count(p, 'queued', 'running') end
return {'run', pick}
"""

_HEARTBEAT = _COMMON + """
local p, id, owner, lease, progress = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local jk = p .. ':job:' .. id
local job = redis.call('HMGET', jk, 'state', 'owner', 'kind')
if job[1] ~= 'running' or job[2] ~= owner then return 0 end
local now = now_ms()
redis.call('ZADD', p .. ':leases:' .. job[3], now + lease, id)
redis.call('HSET', jk, 'lease_expires', now + lease, 'updated', now)
if progress ~= '' then redis.call('HSET', jk, 'progress', progress) end
return 1
"""

# mode: done | failed | retry | release. Only the lease holder of a running job may finish it.
_FINISH = _COMMON + """
local p, id, owner, mode, err, delay = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local jk = p .. ':job:' .. id
local job = redis.call('HMGET', jk, 'state', 'owner', 'kind', 'tries')
if job[1] ~= 'running' or job[2] ~= owner then return 0 end
local now = now_ms()
redis.call('ZREM', p .. ':leases:' .. job[3], id)
redis.call('HSET', jk, 'owner', '', 'lease_expires', '', 'updated', now)
if mode == 'done' then
  redis.call('HSET', jk, 'state', 'done', 'progress', 1, 'error', '', 'finished', now)
  move_count(p, 'running', 'done')
elseif mode == 'failed' then
  redis.call('HSET', jk, 'state', 'failed', 'error', err, 'finished', now)
  move_count(p, 'running', 'failed')
else
  local tries = tonumber(job[4])
  if mode == 'release' then tries = tries - 1 else redis.call('HSET', jk, 'error', err) end
  redis.call('HSET', jk, 'state', 'queued', 'tries', tries, 'run_at', now + delay)
  redis.call('ZADD', p .. ':due:' .. job[3], now + delay, id)
  move_count(p, 'running', 'queued')
end
return 1
"""

_CANCEL = _COMMON + """
local p = ARGV[1]
local now = now_ms()
local cancelled = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local jk = p .. ':job:' .. id
  local job = redis.call('HMGET', jk, 'state', 'kind')
  if job[1] == 'queued' or job[1] == 'running' then
    redis.call('ZREM', p .. ':due:' .. job[2], id)
    redis.call('ZREM', p .. ':leases:' .. job[2], id)
    redis.call('HSET', jk, 'state', 'cancelled', 'owner', '', 'lease_expires', '',
      'updated', now, 'finished', now)
    move_count(p, job[1], 'cancelled')
    table.insert(cancelled, id)
  end
end
return cancelled
"""


def parse_queue_url(url: str) -> tuple[str, str]:
    """(URL for redis-py, key prefix): our own ``?prefix=`` is taken out of the query."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), "") or DEFAULT_PREFIX
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _job(fields: dict[Any, Any], job_id: str, *, exhausted: bool = False) -> Job:
    f = {_text(k): _text(v) for k, v in fields.items()}
    return Job(id=job_id, kind=f["kind"], payload=dict(json.loads(f["payload"] or "{}")),
               state=f["state"], tries=int(f["tries"]), max_tries=int(f["max_tries"]),
               ref=f["ref"] or None, timeout=float(f["timeout"]) if f["timeout"] else None,
               progress=float(f["progress"] or 0.0), error=f["error"] or None,
               lease_owner=f["owner"] or None, exhausted=exhausted)


class RedisQueue:
    def __init__(self, url: str, *, default_max_tries: int = 4, prefix: str | None = None) -> None:
        redis_url, url_prefix = parse_queue_url(url)
        self.prefix = prefix or url_prefix
        self.default_max_tries = default_max_tries
        self.redis = aioredis.Redis.from_url(redis_url)
        self._scripts = {name: self.redis.register_script(source) for name, source in (
            ("enqueue", _ENQUEUE), ("claim", _CLAIM), ("heartbeat", _HEARTBEAT),
            ("finish", _FINISH), ("cancel", _CANCEL))}
        self._listeners: list[CancelListener] = []
        self._wakeup = asyncio.Event()

    async def _run(self, script: str, *args: Any) -> Any:
        return await self._scripts[script](keys=[], args=[self.prefix, *args])

    async def close(self) -> None:
        await self.redis.aclose()

    async def enqueue(self, kind: str, payload: dict[str, Any], *, job_id: str | None = None,
                      ref: str | None = None, max_tries: int | None = None,
                      timeout_seconds: float | None = None, delay: float = 0.0) -> str:
        job_id = job_id or new_id()
        await self._run("enqueue", job_id, kind, json.dumps(payload), ref or "",
                        max_tries or self.default_max_tries,
                        "" if timeout_seconds is None else repr(float(timeout_seconds)),
                        int(delay * 1000))
        self._wakeup.set()
        return job_id

    async def claim(self, owner: str, kinds: Iterable[str], lease_seconds: float) -> Job | None:
        kinds = list(kinds)
        if not kinds:
            return None
        result = await self._run("claim", owner, int(lease_seconds * 1000), *kinds)
        if not result:
            return None
        flag, job_id = _text(result[0]), _text(result[1])
        fields = await self.redis.hgetall(f"{self.prefix}:job:{job_id}")
        return _job(fields, job_id, exhausted=flag == "exhausted")

    async def heartbeat(self, job_id: str, owner: str, lease_seconds: float,
                        progress: float | None = None) -> bool:
        alive = await self._run("heartbeat", job_id, owner, int(lease_seconds * 1000),
                                "" if progress is None else repr(float(progress)))
        return bool(alive)

    async def _finish(self, job_id: str, owner: str, mode: str, error: str = "",
                      delay: float = 0.0) -> bool:
        return bool(await self._run("finish", job_id, owner, mode, error, int(delay * 1000)))

    async def complete(self, job_id: str, owner: str) -> None:
        await self._finish(job_id, owner, "done")

    async def retry(self, job_id: str, owner: str, error: str, delay: float) -> None:
        await self._finish(job_id, owner, "retry", error, delay)

    async def fail(self, job_id: str, owner: str, error: str) -> None:
        await self._finish(job_id, owner, "failed", error)

    async def release(self, job_id: str, owner: str) -> None:
        await self._finish(job_id, owner, "release")
        self._wakeup.set()

    async def cancel(self, *, job_id: str | None = None, ref: str | None = None) -> list[str]:
        if job_id is None and ref is None:
            raise ValueError("cancel needs a job id or a ref")
        if ref is not None:
            members = {_text(m) for m in await self.redis.smembers(f"{self.prefix}:ref:{ref}")}
            candidates = sorted(members if job_id is None else members & {job_id})
        else:
            candidates = [job_id] if job_id is not None else []
        if not candidates:
            return []
        ids = [_text(i) for i in await self._run("cancel", *candidates)]
        if ids:
            for listener in self._listeners:
                listener(ids)
        return ids

    async def get(self, job_id: str) -> Job | None:
        fields = await self.redis.hgetall(f"{self.prefix}:job:{job_id}")
        return _job(fields, job_id) if fields else None

    async def jobs_for(self, ref: str) -> list[Job]:
        ids = sorted(_text(m) for m in await self.redis.smembers(f"{self.prefix}:ref:{ref}"))
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(f"{self.prefix}:job:{job_id}")
            rows = await pipe.execute()
        found = [(int(_text(f[b"seq"])), _job(f, i)) for i, f in zip(ids, rows, strict=True)
                 if f]
        return [job for _, job in sorted(found, key=lambda pair: pair[0])]

    async def counts(self) -> dict[str, int]:
        raw = await self.redis.hgetall(f"{self.prefix}:counts")
        return {_text(k): int(v) for k, v in raw.items() if int(v) > 0}

    def add_cancel_listener(self, listener: CancelListener) -> None:
        self._listeners.append(listener)

    async def wait_for_work(self, seconds: float) -> None:
        # Enqueues in this process wake us at once; other processes' jobs are seen at the poll.
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def drop_all(self) -> int:
        """Delete every key under the prefix (tests, and tearing a walkthrough down)."""
        deleted = 0
        async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=500):
            deleted += int(await self.redis.delete(key))
        return deleted


__all__ = ["ACTIVE_STATES", "DEFAULT_PREFIX", "RedisQueue", "parse_queue_url"]
