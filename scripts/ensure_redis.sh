#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:${T2L_TEST_REDIS_PORT:-6379}: use the machine's, else start one
# (installing redis-server from Debian if needed). Tests use real Redis, never a fake.
set -euo pipefail
port="${T2L_TEST_REDIS_PORT:-6379}"
ping() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf 'PING\r\n' >&3 && head -c 5 <&3" 2>/dev/null | grep -q PONG; }
if ping; then echo "redis: answering on 127.0.0.1:$port"; exit 0; fi
if ! command -v redis-server >/dev/null; then
    echo "redis: installing redis-server"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null
fi
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir /tmp --logfile "/tmp/t2l-redis-$port.log"
for _ in $(seq 50); do ping && { echo "redis: started on 127.0.0.1:$port"; exit 0; }; sleep 0.1; done
echo "redis: could not start on 127.0.0.1:$port (see /tmp/t2l-redis-$port.log)" >&2
exit 1
