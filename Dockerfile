# syntax=docker/dockerfile:1
# The one weft image: every component is a subcommand of the `weft` executable
# (`weft ca`, `weft injector`, `weft proxy`, `weft gateway`, `weft init`, ...).
# CI cannot run Docker here; scripts/prod-smoke.sh builds and runs the same runtime file list
# (dist/, production node_modules, the native addon, examples/) on every CI run.

ARG NODE_IMAGE=node:20-bookworm-slim

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
