# syntax=docker/dockerfile:1
# MCP's container image: the one mcp binary (serve, collector, client verbs), built static
# (CGO_ENABLED=0) and run as a non-root user on distroless/static, which holds CA
# certificates, /etc/passwd and tzdata and nothing else — no shell, no package manager.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t mcp .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/mcp:TAG --push .
#
# deploy/ (TestDockerfile) parses this file, checks the rules above and runs its go build
# line; no image is built by this repository's CI (it has no container engine).

ARG GO_VERSION=1.26

# The builder runs on the build machine's platform and cross-compiles for the target's,
# which is fast and needs no emulation: the binary is pure Go.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X github.com/mcplane/mcp/internal/version.Version=${VERSION}" -o /out/mcp ./cmd/mcp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mcp /mcp
# distroless's nonroot user, by number so that runAsNonRoot can verify it.
USER 65532:65532
# HTTP API, status page and /metrics; agent API (gRPC); OTLP gRPC; OTLP HTTP; profiles.
EXPOSE 8080 50051 4317 4318 4040
ENTRYPOINT ["/mcp"]
CMD ["serve"]
