# shisa: build, test and measure the firmware. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Go from the official tarball lives here; sudo's secure_path drops it.
export PATH := $(PATH):/usr/local/go/bin

VERSION     := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
# The binaries that ship on the box.
SHIPPED     := shisad shisactl
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 25000x
DESTDIR     ?=
# Where `make install` takes the binaries from: bin (make build) or
# bin/arm64, bin/armv7 (make cross).
BINDIR      ?= bin
export FUZZTIME

# Go files gofmt must agree with: all but testdata and hidden directories.
GOFILES = $(shell find . -type f -name '*.go' -not -path './.*' -not -path '*/testdata/*')

.PHONY: help build cross lint fmt-check vet test deps test-unit fuzz test-arm demo bench install clean

help: ## list the targets
	@echo "usage: make TARGET   (VERSION=$(VERSION))"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z0-9-]*:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build every command for this machine into bin/
	go build -trimpath -o bin/ ./firmware/cmd/...

cross: ## build shisad and shisactl, stripped, for linux/arm64 and armv7 into bin/arm64/, bin/armv7/
	@for c in $(SHIPPED); do \
	  if ! ls firmware/cmd/$$c/*.go >/dev/null 2>&1; then \
	    echo "cross: firmware/cmd/$$c has no Go files yet; nothing to build for the box" >&2; exit 1; \
	  fi; \
	done
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/arm64/ $(addprefix ./firmware/cmd/,$(SHIPPED))
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/armv7/ $(addprefix ./firmware/cmd/,$(SHIPPED))
	@for f in $(foreach a,arm64 armv7,$(addprefix bin/$(a)/,$(SHIPPED))); do \
	  stat -c '%s %n' $$f | awk '{ printf "  %-20s %6.2f MB  (%d bytes)\n", $$2, $$1 / 1000000, $$1 }'; \
	done

lint: fmt-check ## gofmt check, go vet and staticcheck (version pinned in STATICCHECK)
	go vet ./...
	go run $(STATICCHECK) ./...

fmt-check: ## fail if any Go file is not gofmt'ed
	@bad=$$(gofmt -l $(GOFILES)); \
	if [ -n "$$bad" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$bad"; exit 1; fi; \
	echo "gofmt: all files formatted"

vet: fmt-check ## go vet ./... and the gofmt check (stage 2 of make test)
	go vet ./...

test: ## the whole suite: deps, vet, unit+integration (race), fuzz, arm64/armv7 under qemu
	@MAKE='$(MAKE)' scripts/test.sh

deps: ## install the Debian packages the tests need (as root; stage 1 of make test)
	@scripts/deps.sh

test-unit: ## go test -race ./... (integration tests run as root, skip otherwise; stage 3)
	go test -race -count=1 -timeout 8m ./...

fuzz: ## run every fuzz target for FUZZTIME (default 25000x, a count of runs; stage 4)
	@scripts/fuzz.sh

test-arm: ## go test -short ./... for arm64 and armv7 under qemu-user-static (stage 5)
	@scripts/arm.sh

demo: ## the rootless demo: one site, two datacenter endpoints, failover and failback
	go run ./firmware/cmd/shisa-demo

bench: ## measure the figures into bench/out/ and print the table
	@MAKE='$(MAKE)' scripts/bench.sh

install: $(if $(filter bin,$(BINDIR)),build) ## install shisad, shisactl, the systemd unit and the docs under DESTDIR
	@for c in $(SHIPPED); do \
	  [ -x $(BINDIR)/$$c ] || { echo "install: $(BINDIR)/$$c missing; run make build (or make cross and BINDIR=bin/arm64)" >&2; exit 1; }; \
	done
	install -D -m 0755 $(BINDIR)/shisad $(DESTDIR)/usr/sbin/shisad
	install -D -m 0755 $(BINDIR)/shisactl $(DESTDIR)/usr/bin/shisactl
	install -D -m 0644 testdata/site.example.yaml $(DESTDIR)/usr/share/doc/shisa/site.example.yaml
	install -D -m 0644 README.md $(DESTDIR)/usr/share/doc/shisa/README.md
	install -D -m 0644 deploy/systemd/shisad.service $(DESTDIR)/lib/systemd/system/shisad.service
	install -D -m 0644 deploy/udev/99-shisa-usb.rules $(DESTDIR)/lib/udev/rules.d/99-shisa-usb.rules
	@if [ -n "$(TRUSTED_KEYS)" ]; then \
	  install -d -m 0755 $(DESTDIR)/usr/share/shisa/trusted && install -m 0644 $(TRUSTED_KEYS) $(DESTDIR)/usr/share/shisa/trusted/; \
	else \
	  echo "install: no TRUSTED_KEYS=datacenter.pub given: this image will refuse every site pack (see README, Spare units)" >&2; \
	fi

clean: ## remove bin/, bench/out/ and stray test binaries
	rm -rf bin bench/out
	find . -name '*.test' -type f -not -path './.*' -delete
