# The few commands a person types. `make run` and `make test` do all set-up on a fresh Debian 12.
.PHONY: deps build run test test-unit web fuzz clean help

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
PORT ?= 8080
DATA_DIR ?= var
# The shipped classifier's training cells, replayed when an admin adapts it to the lab's cells
# (when the data set is beside the checkout; the server runs without replay otherwise).
REPLAY_DATA ?= ../shared/data/pbc
REPLAY_ARGS = $(if $(wildcard $(REPLAY_DATA)/*),--replay-list models/classifier/split/train.txt --replay-data $(REPLAY_DATA))

help:
	@echo "make run    install dependencies, build, start the server (SQLite under $(DATA_DIR)/)"
	@echo "make test   install dependencies, build, run every test suite"
	@echo "make fuzz   build the libFuzzer harnesses (clang-16) and run each for FUZZ_SECONDS (600)"
	@echo "make deps | make build | make clean"

deps:
	bash scripts/install-deps.sh

build: deps
	cmake --preset release >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build web
	./$(BUILD_DIR)/marrowscope serve --data-dir $(DATA_DIR) --port $(PORT) $(REPLAY_ARGS)

test: build web
	bash scripts/run-tests.sh $(BUILD_DIR)

# libFuzzer harnesses of every input parser (fuzz/), one after another; see scripts/fuzz.sh.
fuzz: deps
	bash scripts/fuzz.sh

# The web app, built into web/dist (served by `marrowscope serve`); offline once npm ci has run.
web: deps
	cd web && npm run build

clean:
	rm -rf $(BUILD_DIR) build-dev build-asan build-fuzz
