# Switchboard API / worker image (one image, two commands). Temporal and Postgres run as their own
# services (see docker-compose.yml); nothing embedded is started in a container.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production SWITCHBOARD_SKIP_TEMPORAL_INSTALL=1 API_HOST=0.0.0.0
COPY package.json package-lock.json ./
# npm ci's postinstall runs scripts/installTemporal.mjs (a no-op with SWITCHBOARD_SKIP_TEMPORAL_INSTALL).
COPY scripts ./scripts
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/main.ts"]
