# MCP — the one test command is `make test`. It installs or builds what the tests need
# (idempotently, cached outside the repository), then runs vet, every test, and short fuzz
# runs of every parser of outside input.

GO        ?= go
FUZZTIME  ?= 10s
# The real kube-apiserver and etcd for envtest, built once from the Go module proxy.
TESTBIN   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mcp/testbin
# Every package of the three modules go.work joins: the control plane and the rest (.), the
# agent services import (runtime) and the agent protocol (api/agent).
PKGS      := ./... ./runtime/... ./api/agent/...

.PHONY: all build test deps testenv vet unit fuzz generate proto demo clean

all: build

build:
	$(GO) build $(PKGS)

## test: everything CI runs.
test: deps vet unit fuzz

## deps: Debian packages and test binaries the tests use (skipped when already present).
deps:
	@./hack/deps.sh

## testenv: build kube-apiserver and etcd for envtest (minutes, once; cached in $(TESTBIN)).
testenv:
	@MCP_TESTBIN=$(TESTBIN) ./hack/testenv.sh >/dev/null

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

unit: testenv
	KUBEBUILDER_ASSETS=$$(MCP_TESTBIN=$(TESTBIN) ./hack/testenv.sh) $(GO) test -count=1 -timeout 30m $(PKGS)

## fuzz: a short run of every fuzz target (FUZZTIME each).
fuzz:
	@./hack/fuzz.sh $(FUZZTIME)

## generate: regenerate code and checked-in artefacts (protobuf, CRDs, dashboards).
generate: proto
	$(GO) generate $(PKGS)

proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler"; exit 1; }
	@command -v protoc-gen-go >/dev/null || $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	@command -v protoc-gen-go-grpc >/dev/null || $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	cd api/agent/v1 && PATH="$$PATH:$$($(GO) env GOPATH)/bin" $(GO) generate .

demo:
	$(GO) run ./cmd/mcp demo
