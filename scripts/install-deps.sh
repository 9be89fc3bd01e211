#!/usr/bin/env bash
# Installs what kiln needs on Debian 12 (run as root): runc, QEMU user emulation registered in
# binfmt_misc, and what the tests use (Debian's docker-registry, skopeo, htpasswd, openssl,
# busybox-static packages for amd64 and arm64 fetched by the fixtures, build tools for the
# native npm modules). Safe to run again.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The fixtures download busybox-static for arm64 with apt-get download.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  runc qemu-user-static docker-registry skopeo apache2-utils openssl ca-certificates \
  git zstd xz-utils bzip2 iproute2 util-linux python3 make g++ chromium >/dev/null

# QEMU handlers: mount binfmt_misc and register the handlers Debian ships when they are missing.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
for conf in /usr/lib/binfmt.d/qemu-*.conf; do
  name=$(basename "$conf" .conf)
  if [ ! -e "/proc/sys/fs/binfmt_misc/$name" ]; then
    cat "$conf" > /proc/sys/fs/binfmt_misc/register || echo "install-deps.sh: could not register $name" >&2
  fi
done
