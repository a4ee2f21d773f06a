# The two commands a newcomer needs: `make run` and `make test`.
# Cargo's target dir may be moved with CARGO_TARGET_DIR as usual.

CARGO ?= cargo

.PHONY: run test lint

## Build Baton (optimized) and start the server on 127.0.0.1:8080 with its data in ./baton-data.
run:
	$(CARGO) run --release --locked -p baton -- serve

## Run the whole test suite. PostgreSQL is tested too when BATON_TEST_DATABASE_URL is set; the
## web app's tests need Node.js 20 and Chromium (each says SKIPPED when absent).
test:
	$(CARGO) test --workspace --locked
	CARGO="$(CARGO)" ./web/test.sh

## Formatting and lints, as CI checks them.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
