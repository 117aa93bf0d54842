# syntax=docker/dockerfile:1
# The model-rollout-operator image: the operator compiled to JavaScript (tsc, in a build
# stage), run as `node dist/main.js` with only the runtime dependencies. The compiled form
# holds about 30 MiB less memory than the TypeScript sources through Node's type stripper
# (docs/benchmarks.md), which would load the stripper and keep both forms of every module.
#
#   docker build -t model-rollout-operator:0.1.0 .
#
# For reproducible builds pin the base image by digest:
#   docker build --build-arg NODE_IMAGE=node:24-slim@sha256:<digest> ...
ARG NODE_IMAGE=node:24-slim

# The compiler: every dependency of the lock file (tsc and the Node.js types are dev
# dependencies), no install scripts. Type-checks and emits dist/ without source maps: the
# image has no sources for them to point to.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ ./src/
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json --sourceMap false

# Runtime dependencies only (no dev dependencies, no install scripts).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="model-rollout-operator" \
      org.opencontainers.image.description="Kubernetes operator that rolls out machine-learning model versions safely" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# Everything belongs to root and is read-only for the operator's user. package.json is
# needed at run time: its "type": "module" makes dist/*.js ES modules. The operator reads
# no other file of the repository (the CRD's schema is compiled into dist/api/generated/);
# crds/ is shipped so that the image holds the CRD of its own version.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY crds/ ./crds/
COPY --from=build /app/dist/ ./dist/
# A numeric non-root user, so Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532
# 8080: Prometheus /metrics; 8081: /healthz and /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/main.js"]
