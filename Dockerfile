# The portability component. Build: docker build -t xmpp-account-portability .
# Stage 1 compiles TypeScript; stage 2 holds only production dependencies and dist/, runs as `node`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY types ./types
COPY migrations ./migrations
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HTTP_LISTEN=0.0.0.0:8787
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin/portability.js ./bin/portability.js
COPY config.example.env README.md ./
COPY prosody-module ./prosody-module
RUN install -d -o node -g node /data
USER node
VOLUME ["/data"]
EXPOSE 8787
# 200 when the XMPP link and the database are both up, 503 otherwise (GET /healthz, JSON body).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node directly (PID 1 handles SIGTERM itself: jobs are handed back, exit within seconds).
CMD ["node", "dist/src/cli/main.js", "run"]
