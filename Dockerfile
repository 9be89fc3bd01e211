# kilnd, kiln's build daemon, as a container image. Build it with kiln itself (or any BuildKit):
#
#   kilnctl build --frontend dockerfile.v0 --local context=. --local dockerfile=. \
#     --output type=image,name=registry.example.com/kiln/kilnd:dev,push=true
#
# Run it privileged (runc needs mounts, namespaces and cgroups) with its state on a volume that is
# not itself an overlay mount (overlayfs cannot sit on overlayfs):
#
#   docker run -d --privileged -v kiln-state:/var/lib/kiln -v /run/kiln:/run/buildkit kilnd
#
# docs/operations.md covers configuration, Kubernetes and the reduced-privilege variant.

# Any Debian bookworm image with Node 20 in /usr/local works; tests build it from a local base.
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
# better-sqlite3 and zstd-napi compile their native parts at install time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The build compiles tests too (one tsconfig); the runtime stage takes only what the daemon and
# kilnctl load.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/bench \
 && find dist -name '*.test.js' -o -name '*.map' -o -name '*.d.ts' -o -name '.tsbuildinfo' | xargs rm -f \
 && chmod 0755 dist/daemon/main.js dist/client/main.js

FROM ${BASE}
# runc runs the build steps; qemu-user-static provides the emulators for foreign platforms (their
# binfmt_misc registration is the host's, see docs/operations.md); git, xz and bzip2 serve git
# sources and compressed ADD; tini reaps the orphans of runc and QEMU, which node as PID 1 would not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends runc qemu-user-static tini git xz-utils bzip2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/kiln
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN ln -s /opt/kiln/dist/daemon/main.js /usr/local/bin/kilnd \
 && ln -s /opt/kiln/dist/client/main.js /usr/local/bin/kilnctl \
 && mkdir -p /etc/kiln /var/lib/kiln /run/buildkit
LABEL org.opencontainers.image.title="kilnd" \
      org.opencontainers.image.description="kiln: a BuildKit-compatible image build daemon" \
      org.opencontainers.image.licenses="Apache-2.0"
# Defaults: /etc/kiln/kilnd.toml when present, state in /var/lib/kiln, the socket in /run/buildkit.
VOLUME /var/lib/kiln
ENTRYPOINT ["/usr/bin/tini", "--", "kilnd"]
