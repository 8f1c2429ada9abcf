#!/bin/sh
# `make run`: start the daemon in the foreground on its embedded defaults
# (etc/xenapid.conf: SQLite under var/, simulator backend, HTTPS on port 8443 with a
# self-signed certificate made at the first start, plain HTTP on 127.0.0.1:8090).
set -eu
cd "$(dirname "$0")/.."
mkdir -p var
if [ ! -s var/passwd ]; then
  # A first run: make root a random password, kept in a file only root can read.
  umask 077
  head -c 18 /dev/urandom | base64 | tr -d '/+=' > var/root.password
  bin/xenapid --config etc/xenapid.conf --set-password root < var/root.password >/dev/null
  echo "xenapid: created user root; its password is in var/root.password"
fi
echo "xenapid: XML-RPC on https://$(hostname):8443/ (certificate var/xenapid-cert.pem) and"
echo "xenapid: http://127.0.0.1:8090/, JSON-RPC on /jsonrpc, unix socket var/xenapid.sock"
echo "xenapid: log in as root with the password in var/root.password; Ctrl-C stops"
exec bin/xenapid --config etc/xenapid.conf --https-port=8443 --device-model-dir=var/dm "$@"
