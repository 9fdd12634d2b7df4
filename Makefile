# Quick start: `make demo` runs the main demo, `make test` runs the whole test suite.
# Both install what is missing first (scripts/setup.sh).

CARGO ?= cargo

.PHONY: setup build demo test lint bench survey screenshot

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release

demo: build
	@scripts/demo.sh target/release/tagmmu

test: setup
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --no-fail-fast && $(CARGO) test --doc; \
	else \
		$(CARGO) test --no-fail-fast; \
	fi

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# Benchmarks: the tag-check hot path against QEMU, and the time per scenario and per
# kernel-loop pass (live-lock proof included).
bench: build
	$(CARGO) bench --bench memops
	$(CARGO) bench --bench mmaps
	$(CARGO) bench --bench busybox
	$(CARGO) bench --bench scenarios
	$(CARGO) bench --bench sweep

# The survey of the cover letter's claims (surveys/fault-in-loops.md and its heat map),
# regenerated from surveys/fault-in-loops.yaml: about 825,000 points, 70-90 s on 2 cores.
survey: build
	target/release/tagmmu sweep surveys/fault-in-loops.yaml --out target/fault-in-loops.jsonl \
		--svg surveys/fault-in-loops.svg --report surveys/fault-in-loops.md

# The README's picture of the report page (docs/report-page.png), by headless Chromium.
screenshot: build
	scripts/screenshot.sh target/release/tagmmu
