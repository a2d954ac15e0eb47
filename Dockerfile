# Switchboard API / worker image (one image, two commands). Temporal and Postgres run as their own
# services (see docker-compose.yml); nothing embedded is started in a container.

# The web console is built with Vite, a dev dependency: in its own stage, so the image keeps
# production dependencies only and serves the built files from console/dist.
FROM node:20-bookworm-slim AS console
WORKDIR /app
ENV SWITCHBOARD_SKIP_TEMPORAL_INSTALL=1
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund
COPY console ./console
RUN npm run build:console

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production SWITCHBOARD_SKIP_TEMPORAL_INSTALL=1 API_HOST=0.0.0.0
COPY package.json package-lock.json ./
# npm ci's postinstall runs scripts/installTemporal.mjs (a no-op with SWITCHBOARD_SKIP_TEMPORAL_INSTALL)
# and scripts/buildConsole.mjs (nothing to build here: no sources yet, no Vite).
COPY scripts ./scripts
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
COPY --from=console /app/console/dist ./console/dist
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/main.ts"]
