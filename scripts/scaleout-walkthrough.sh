#!/usr/bin/env bash
# Scale-out walkthrough on one machine: one API process, two `taichi-cloud worker` processes,
# PostgreSQL (a fresh schema), Redis (a fresh key prefix) and an S3-compatible server (moto),
# then a full round trip: tus upload of a lavfi clip -> ready -> master.m3u8 -> one segment.
# Everything it made is removed at the end (PostgreSQL and Redis are left running).
#
#   scripts/scaleout-walkthrough.sh          (uses the project's .venv; ./dev setup makes it)
# Environment: PG_URL (default postgresql://postgres@127.0.0.1:5432/test), REDIS_URL
# (default redis://127.0.0.1:6379/0), KEEP=1 keeps the work directory for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY="$ROOT/.venv/bin/python"
TC="$ROOT/.venv/bin/taichi-cloud"
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
[ -x "$PY" ] || { echo "no .venv: run ./dev setup first" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# -- the engines: PostgreSQL and Redis (started when down, as .ci/run does) ---------------------
step "PostgreSQL and Redis"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi
echo "PostgreSQL and Redis are up"

RUN_ID=$("$PY" -c 'import secrets; print(secrets.token_hex(5))')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/taichi-scaleout-XXXXXX")
S3_PORT=$(free_port)
API_PORT=$(free_port)
BUCKET="taichi-walkthrough-$RUN_ID"
SCHEMA="walk_$RUN_ID"
PIDS=()

export AWS_ACCESS_KEY_ID=walkthrough AWS_SECRET_ACCESS_KEY=walkthrough AWS_REGION=us-east-1
export TAICHI_CLOUD_DATABASE_URL="$PG_URL?schema=$SCHEMA"
export TAICHI_CLOUD_STORAGE_URL="s3://$BUCKET/museum"
export TAICHI_CLOUD_S3_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
export TAICHI_CLOUD_QUEUE_URL="$REDIS_URL?prefix=walkthrough-$RUN_ID"
export TAICHI_CLOUD_SECRET_KEY="walkthrough-secret-$RUN_ID"
export TAICHI_CLOUD_PUBLIC_URL="http://127.0.0.1:$API_PORT"
export TAICHI_CLOUD_JOB_LEASE_SECONDS=10

cleanup() {
  local status=$?
  step "cleaning up"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$PY" - <<'EOF' || true
import asyncio, os
import asyncpg
from taichi_cloud.jobs.redis_queue import RedisQueue

async def main() -> None:
    queue = RedisQueue(os.environ["TAICHI_CLOUD_QUEUE_URL"])
    print(f"redis: {await queue.drop_all()} keys dropped")
    await queue.close()
    base, _, schema = os.environ["TAICHI_CLOUD_DATABASE_URL"].partition("?schema=")
    conn = await asyncpg.connect(base)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()
    print(f"postgresql: schema {schema} dropped")

asyncio.run(main())
EOF
  if [ "$status" -ne 0 ]; then
    for log in "$WORK"/*.log; do echo "--- $log"; tail -n 25 "$log"; done
  fi
  if [ "${KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$status"
}
trap cleanup EXIT

# -- object storage: moto's S3 server, one bucket ----------------------------------------------
step "S3-compatible server on :$S3_PORT (moto), bucket $BUCKET"
"$PY" -m moto.server -H 127.0.0.1 -p "$S3_PORT" >"$WORK/s3.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" && break; sleep 0.1; done
"$PY" - <<EOF
import asyncio
from taichi_cloud.storage.s3 import S3BlobStore

async def main() -> None:
    store = S3BlobStore("$BUCKET", endpoint_url="http://127.0.0.1:$S3_PORT")
    await store.create_bucket()
    await store.close()

asyncio.run(main())
EOF

# -- one API node and two workers, each with its own data dir (as on separate machines) --------
step "API node on :$API_PORT (serve runs no jobs with a Redis queue)"
"$TC" --data-dir "$WORK/api" migrate >"$WORK/migrate.log" 2>&1
"$TC" --data-dir "$WORK/api" serve --port "$API_PORT" >"$WORK/api.log" 2>&1 &
PIDS+=($!)
for n in 1 2; do
  "$TC" --data-dir "$WORK/worker$n" worker >"$WORK/worker$n.log" 2>&1 &
  PIDS+=($!)
done
API="http://127.0.0.1:$API_PORT"
for _ in $(seq 150); do curl -sf -o /dev/null "$API/healthz" && break; sleep 0.2; done
curl -sf "$API/healthz"; echo

# -- a curator, a clip, a tus upload -----------------------------------------------------------
step "curator account and a 3 s lavfi clip"
echo "walkthrough password" | "$TC" --data-dir "$WORK/api" users add curator@walkthrough.example \
  --role curator --password-stdin >"$WORK/users.log" 2>&1
TOKEN=$(curl -sf -H 'Content-Type: application/json' \
  -d '{"email": "curator@walkthrough.example", "password": "walkthrough password"}' \
  "$API/api/v1/auth/login" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["token"])')
AUTH="Authorization: Bearer $TOKEN"
CLIP="$WORK/form.mp4"
"$PY" -c "from pathlib import Path; from taichi_cloud.media.samples import make_test_clip; make_test_clip(Path('$CLIP'), seconds=3.0, size='640x360')"
SIZE=$(stat -c %s "$CLIP")
echo "clip: $SIZE bytes"

step "tus upload"
LOCATION=$(curl -sf -D - -o /dev/null -X POST -H "$AUTH" -H 'Tus-Resumable: 1.0.0' \
  -H "Upload-Length: $SIZE" -H "Upload-Metadata: filename $(printf form.mp4 | base64)" \
  "$API/api/v1/uploads" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
MEDIA_ID=$(curl -sf -D - -o /dev/null -X PATCH -H "$AUTH" -H 'Tus-Resumable: 1.0.0' \
  -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' \
  --data-binary "@$CLIP" "$API$LOCATION" | tr -d '\r' | sed -n 's/^[Tt]aichi-[Mm]edia-[Ii]d: //p')
[ -n "$MEDIA_ID" ] || { echo "the upload did not finish" >&2; exit 1; }
echo "uploaded $LOCATION -> media $MEDIA_ID"

step "waiting for a worker to make it ready"
STATUS=""
for _ in $(seq 300); do
  curl -sf -H "$AUTH" "$API/api/v1/media/$MEDIA_ID" >"$WORK/media.json"
  STATUS=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["status"])' "$WORK/media.json")
  [ "$STATUS" = ready ] || [ "$STATUS" = failed ] && break
  sleep 0.2
done
[ "$STATUS" = ready ] || { echo "media is $STATUS"; cat "$WORK/media.json"; exit 1; }
grep -H "ready:" "$WORK"/worker*.log | sed "s|^$WORK/|  |" || true

# -- watch: the master playlist from the API, a segment from the object store ------------------
step "watching"
HLS=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["hls"])' "$WORK/media.json")
code=$(curl -s -o /dev/null -w '%{http_code}' "$API${HLS%%\?*}")
echo "master.m3u8 without the token: $code (a draft is private)"
[ "$code" = 403 ]
curl -sf "$API$HLS" >"$WORK/master.m3u8"
VARIANT=$(grep -v '^#' "$WORK/master.m3u8" | grep -m1 .)
curl -sf "$API/streams/$MEDIA_ID/$VARIANT" >"$WORK/variant.m3u8"
SEGMENT=$(grep -v '^#' "$WORK/variant.m3u8" | grep -m1 .)
SEGMENT_URL="$API/streams/$MEDIA_ID/$(dirname "${VARIANT%%\?*}")/$SEGMENT"
REDIRECT=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$SEGMENT_URL")
echo "segment: ${REDIRECT%% *} -> ${REDIRECT#* }" | cut -c1-160
curl -sfL -o "$WORK/segment.m4s" "$SEGMENT_URL"
BYTES=$(stat -c %s "$WORK/segment.m4s")
[ "$BYTES" -gt 0 ]
echo "fetched $(grep -c . "$WORK/master.m3u8") master lines, one segment of $BYTES bytes from S3"
echo "round trip ok: upload -> ready -> watch with 1 API node, 2 workers, PostgreSQL, Redis, S3"
