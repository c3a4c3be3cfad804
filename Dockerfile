# syntax=docker/dockerfile:1
# PinIt API. Build:  docker build -t pinit-api .
#            Run:    see README, "Container" (production needs JWT_SECRET and, to scale,
#                    DATABASE_URL, REDIS_URL and S3_*; docker-compose.yml wires them up).
#
# Three stages: dependencies (and `prisma generate`), compile, and a runtime image holding
# only production dependencies, the compiled code and the migrations. At run time nothing
# is downloaded: migrations run through Prisma's schema engine compiled to WASM, in-process.

# Node 22 LTS (Node 20 reached end of life in April 2026; the codegen tooling wants 22 too).
# The code itself still runs on Node 20.19+ (package.json engines). Pinned to a patch release
# for reproducible builds: raise it for security releases.
ARG NODE_IMAGE=node:22.22.2-bookworm-slim

# --- 1. dependencies, with the Prisma client generated ----------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1
# What `npm ci` and its postinstall (scripts/prisma-generate.mjs → src/generated/) read.
# prisma-generate points the CLI at a stub schema engine, so generate needs no download.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts/prisma-generate.mjs scripts/
COPY prisma/schema.prisma prisma/
RUN npm ci

# --- 2. compile to dist/, then drop the dev dependencies ---------------------------------
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY scripts scripts
COPY prisma prisma
RUN npm run build \
 && npm prune --omit=dev

# --- 3. runtime ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    METRICS_PORT=9464 \
    DATA_DIR=/data
WORKDIR /app
# Owned by root and read-only to the app's user; only DATA_DIR is writable.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
# schema.prisma marks the project root (src/lib/paths.ts); the migrations are applied at start-up.
COPY --from=build /app/prisma/schema.prisma prisma/schema.prisma
COPY --from=build /app/prisma/migrations prisma/migrations
# The embedded database and local files (STORAGE=disk) go here when no DATABASE_URL /
# S3_BUCKET is set; mount a volume to keep them.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
# The API, and Prometheus's /metrics (its own port: publish it only to the monitoring network).
EXPOSE 4000 9464
# /readyz checks the database, pub/sub and storage (503 naming the failing part).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 4000}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself (not npm) is PID 1, so SIGTERM reaches the graceful shutdown in src/main.ts.
CMD ["node", "dist/src/main.js"]
