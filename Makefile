# One command per job; CI (.ci/run) calls the same targets.
SHELL := /bin/bash
export PATH := $(CURDIR)/.bin:$(PATH)
GOOGLEAPIS_MOD := github.com/grpc-ecosystem/grpc-gateway@v1.16.0
MODULES := gen platform ingest-svc analysis-svc status-svc cli e2e bench

.PHONY: help tools ts-deps googleapis generate verify breaking lint test bench bench-check bench-compare bench-baseline demo build deps

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## Install system packages (GDAL, exiftool) and start PostgreSQL if needed
	bash scripts/deps.sh

tools: ## Build the pinned codegen and test tools into .bin/
	cd tools && GOWORK=off GOBIN=$(CURDIR)/.bin go install tool

googleapis: ## Copy google/api annotations from a Go module (buf's registry is unreachable)
	@dir=$$(GOWORK=off GOFLAGS=-mod=mod go mod download -json $(GOOGLEAPIS_MOD) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	test -n "$$dir" || { echo "cannot download $(GOOGLEAPIS_MOD)"; exit 1; }; \
	rm -rf .build/googleapis && mkdir -p .build/googleapis/google/api && \
	cp $$dir/third_party/googleapis/google/api/{annotations,http}.proto .build/googleapis/google/api/ && \
	chmod -R u+w .build/googleapis

ts-deps: ## npm ci in gen/ts: the pinned protoc-gen-es and TypeScript (npm registry)
	@if [ ! -f gen/ts/node_modules/.package-lock.json ] || [ gen/ts/package-lock.json -nt gen/ts/node_modules/.package-lock.json ]; then \
		echo "==> npm ci in gen/ts" >&2; \
		cd gen/ts && npm ci --prefer-offline --no-audit --no-fund --loglevel=error; \
	fi

generate: googleapis ts-deps ## Regenerate gen/ from proto/ (Go, gateway, OpenAPI, TypeScript)
	buf lint
	buf generate
	buf generate --template gen/ts/buf.gen.yaml

breaking: googleapis ## buf breaking against the main branch
	@if git rev-parse -q --verify main >/dev/null; then \
		rm -rf .build/main && mkdir -p .build/main/.build && \
		git archive main proto buf.yaml | tar -x -C .build/main && \
		cp -r .build/googleapis .build/main/.build/ && \
		buf breaking --against .build/main; \
	else echo "no main branch: skipping buf breaking"; fi

verify: generate breaking ## Regenerate and fail if gen/ differs from what is committed
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen/)" || { git status --porcelain -- gen/; echo "gen/ has untracked files: run make generate and commit"; exit 1; }

lint: ## gofmt, go vet and staticcheck on every module
	@out=$$(gofmt -l $(filter-out gen,$(MODULES))); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	for m in $(MODULES); do (cd $$m && go vet ./... && staticcheck ./...) || exit 1; done

build: ## Build every binary into .bin/
	go build -o .bin/ ./ingest-svc/cmd/ingest-svc ./status-svc/cmd/status-svc ./analysis-svc/cmd/analysis-svc ./cli/cmd/canopy

test: ## Run every test (needs PostgreSQL, GDAL and the tools: see README)
	bash scripts/test.sh

bench: ## Every benchmark, then the older design side by side: bench/results/latest.json and latest.md
	bash scripts/bench.sh full
	bash scripts/bench-compare.sh
	.bin/canopy-bench table -out bench/results/latest.json | tee bench/results/latest.md

bench-check: ## Short benchmarks; fails if a ratio falls below half of bench/baseline.json
	bash scripts/bench.sh quick

bench-compare: ## Only the side-by-side run against ../shared/baseline
	bash scripts/bench-compare.sh

bench-baseline: ## Rewrite bench/baseline.json from bench/results/check.json (after make bench-check)
	.bin/canopy-bench check -write -out bench/results/check.json -baseline bench/baseline.json

demo: ## Run the whole pipeline on sample images and print the results
	bash scripts/demo.sh
