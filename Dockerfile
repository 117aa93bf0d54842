# syntax=docker/dockerfile:1
# The model-rollout-operator image: Node 24 runs the TypeScript sources directly
# (native type stripping), so there is no build step, only the runtime dependencies.
#
#   docker build -t model-rollout-operator:0.1.0 .
#
# For reproducible builds pin the base image by digest:
#   docker build --build-arg NODE_IMAGE=node:24-slim@sha256:<digest> ...
ARG NODE_IMAGE=node:24-slim

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
# Everything belongs to root and is read-only for the operator's user.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY crds/ ./crds/
COPY src/ ./src/
# A numeric non-root user, so Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532
# 8080: Prometheus /metrics; 8081: /healthz and /readyz.
EXPOSE 8080 8081
ENTRYPOINT ["node", "src/main.ts"]
