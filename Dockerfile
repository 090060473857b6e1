# syntax=docker/dockerfile:1
# jpm-sync runs TypeScript directly with Node 24's type stripping: there is no build output, so the
# stages only separate dependency installation (with build tools) from the slim runtime image.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; --ignore-scripts skips the dev-only `node` package's installer.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY config ./config
COPY migrations ./migrations
COPY src ./src
# The simulator's PKI directory (compose mounts a named volume there): owned by the unprivileged user, so a new
# volume starts out writable by it (Docker copies the image directory's owner into an empty named volume).
RUN mkdir -p /pki && chown node:node /pki
# Run as the image's unprivileged user, never root.
USER node
EXPOSE 8080
# Liveness for the api role (the worker/scheduler roles override this in compose).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "src/main/start.ts"]
