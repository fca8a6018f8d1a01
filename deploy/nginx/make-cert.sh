#!/usr/bin/env bash
# A self-signed certificate for the local docker compose stack (never committed):
# deploy/nginx/certs/server.{crt,key}, ECDSA P-256, 30 days, SAN localhost and 127.0.0.1.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/certs"
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
chmod 644 "$dir/server.crt"
echo "wrote $dir/server.crt and server.key"
