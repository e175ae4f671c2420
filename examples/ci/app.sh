#!/bin/sh
# The program under test: any language will do; this one is a shell script around redis-cli.
# It finds its cache where with-double.sh says: SD_CACHE_HOST and SD_CACHE_PORT.
set -eu
cli() { redis-cli -h "$SD_CACHE_HOST" -p "$SD_CACHE_PORT" "$@"; }
[ "$(cli PING)" = "PONG" ]
[ "$(cli GET greeting)" = "hello" ]
echo "app: the cache said hello"
