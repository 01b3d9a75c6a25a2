# syntax=docker/dockerfile:1
# The one weft image: every component is a subcommand of the `weft` executable
# (`weft ca`, `weft injector`, `weft proxy`, `weft gateway`, `weft init`, ...).
# CI cannot run Docker here; scripts/prod-smoke.sh builds and runs the same runtime file list
# (dist/, production node_modules, the native addon, examples/) on every CI run.

# Node 24 LTS on Debian bookworm, slim variant, pinned by the digest of its multi-platform image index
# (linux/amd64, linux/arm64, linux/ppc64le), so a rebuild gets the same bytes until this line changes.
# Source: docker-library/repo-info (the Docker official images' published metadata), file
# repos/node/remote/24-bookworm-slim.md at commit e2e97043fc3e24482c19623a66ea8fc74d2546e0:
# `node:24-bookworm-slim` = node@sha256:a9f5f7c9..., NODE_VERSION=24.19.0 (built 2026-08-25).
# To move on: take the newer index digest from that file and keep the tag beside it for readers.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:a9f5f7c91a432850b2a8a7797adf5eadb6c733ceed61167806cee7ea7fbc29df

# ---- build: compile TypeScript and the SO_ORIGINAL_DST addon ----
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/build-native.mjs scripts/
COPY proxy/capture/native proxy/capture/native
# `npm ci` runs the package's install script, which compiles build/native/original_dst.node.
RUN npm ci --no-audit --no-fund && node scripts/build-native.mjs --strict
# Only the production folders (tsconfig.build.json): no test or bench code reaches the image.
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY mesh mesh
COPY proxy proxy
COPY gateway gateway
COPY init init
COPY check check
COPY ca ca
COPY destination destination
COPY injector injector
COPY cli cli
RUN npm run build

# ---- production dependencies only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/weft
COPY package.json package-lock.json ./
# The addon comes compiled from the build stage, so no compiler and no install scripts here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# iptables (with ip6tables) for `weft init`; nothing else beyond Node itself.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 7007 weft \
 && useradd --uid 7007 --gid 7007 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin weft
WORKDIR /opt/weft
COPY --from=deps /opt/weft/node_modules node_modules
COPY --from=build /src/dist dist
COPY --from=build /src/build/native build/native
COPY package.json package-lock.json ./
COPY examples examples
RUN chmod 0755 dist/cli/main.js && ln -s /opt/weft/dist/cli/main.js /usr/local/bin/weft
ENV NODE_ENV=production
# The proxy's UID: the capture rules exclude it, so the image's default user is the proxy's.
# `weft init` runs as root only because its init container asks for it (with NET_ADMIN, NET_RAW).
USER 7007:7007
EXPOSE 7001 7006 7020 8443
ENTRYPOINT ["weft"]
CMD ["--help"]
