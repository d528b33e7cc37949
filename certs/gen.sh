#!/usr/bin/env bash
# Development certificates for the TLS and mTLS examples (never for production):
#   ca.pem / ca.key                 dev CA that signs the server certificate
#   server.pem / server.key         localhost, api.localhost, *.partners.localhost, 127.0.0.1
#   partner-ca.pem / partner-ca.key CA of the partner's client certificates (the truststore)
#   partner.pem / partner.key       client certificate of partner "acme"
#   other-ca.pem, stranger.pem/key  a client certificate from a CA nobody trusts
# usage: certs/gen.sh [DIR]   (default: the directory of this script). Idempotent: existing
# files are kept unless FORCE=1.
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")" && pwd)}
mkdir -p "$dir"
cd "$dir"
if [ -f server.pem ] && [ -f partner.pem ] && [ "${FORCE:-0}" != 1 ]; then
  echo "certs: already present in $dir (FORCE=1 to regenerate)"
  exit 0
fi
command -v openssl >/dev/null || { echo "certs: openssl is required (apt-get install openssl)" >&2; exit 2; }
days=825
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ca() { # name subject
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "$2" -keyout "$1.key" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
leaf() { # name subject ca extfile
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
    -keyout "$1.key" -out "$tmp/$1.csr" 2>/dev/null
  openssl x509 -req -in "$tmp/$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
    -days "$days" -out "$1.pem" -extfile "$4" 2>/dev/null
}

ca ca "/O=tollgate dev/CN=tollgate dev CA"
cat > "$tmp/server.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:api.localhost,DNS:*.partners.localhost,IP:127.0.0.1,IP:::1
EXT
leaf server "/O=tollgate dev/CN=localhost" ca "$tmp/server.ext"

ca partner-ca "/O=tollgate dev/CN=tollgate partner CA"
cat > "$tmp/client.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
leaf partner "/C=US/O=Acme Corp/CN=acme" partner-ca "$tmp/client.ext"

ca other-ca "/O=nobody/CN=untrusted CA"
leaf stranger "/O=nobody/CN=stranger" other-ca "$tmp/client.ext"

rm -f ./*.srl
chmod 600 ./*.key
echo "certs: written to $dir (ca, server, partner-ca, partner, other-ca, stranger)"
