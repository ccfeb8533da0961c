# Two commands on a fresh Debian machine:
#   make demo   installs missing Debian packages, builds, runs the default example
#   make test   installs missing Debian packages, builds, runs every test suite
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

# Debian packages needed to build and test.
DEPS := cmake gcc make pkg-config libblis-dev libblis4-openmp check \
        libcjson-dev libutf8proc-dev libarchive-dev libcsv-dev libhdf5-dev gnuplot-nox \
        libopenmpi-dev openmpi-bin iproute2 libxsmm-dev
# Extra packages for the benchmarks (the PyTorch peer).
BENCH_DEPS := python3-torch

.PHONY: all deps build test test-native test-sanitize test-valgrind demo bench install clean venv

all: build

deps:
	@./scripts/install-deps.sh $(DEPS)

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCGRAD_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS); status=$$?; \
	  echo "---- Check summaries ----"; \
	  grep -h "^[0-9]*%: Checks:" Testing/Temporary/LastTest.log || true; \
	  exit $$status

# The whole suite again in a build for this machine's CPU only
# (-march=native, in build-native/): the same results, bit for bit, as the
# portable default (docs/decisions.md, "Determinism").
test-native:
	@$(MAKE) --no-print-directory test BUILD=$(BUILD)-native CMAKE_FLAGS="$(CMAKE_FLAGS) -DCGRAD_NATIVE=ON"

# The whole suite built with -fsanitize=address,undefined (in build-sanitize/);
# the sanitizers make it several times slower, so Check's per-test time
# limits are four times as long.
test-sanitize: deps
	@cmake -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCGRAD_SANITIZE=ON -DCGRAD_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)-sanitize -j $(JOBS)
	@cd $(BUILD)-sanitize && CK_TIMEOUT_MULTIPLIER=4 ctest --output-on-failure -j $(JOBS); status=$$?; \
	  echo "---- Check summaries (sanitizers) ----"; \
	  grep -h "^[0-9]*%: Checks:" Testing/Temporary/LastTest.log || true; \
	  exit $$status

# The example smoke runs under valgrind's memcheck: any definite or indirect
# leak or memory error fails (build-valgrind/, the portable build: valgrind
# shows a CPU without AVX-512, so its AVX2 loops run).
test-valgrind: deps
	@./scripts/install-deps.sh valgrind
	@cmake -S . -B $(BUILD)-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCGRAD_VALGRIND=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)-valgrind -j $(JOBS)
	@cd $(BUILD)-valgrind && ctest --output-on-failure -j $(JOBS) -L examples

demo: build
	@./scripts/demo.sh $(BUILD)

bench: deps
	@./scripts/install-deps.sh $(BENCH_DEPS)
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target cgrad-bench bench_matmul
	@VENV=$(abspath $(VENV)) ./bench/run.sh $(BUILD)

# The Python virtual environment of the reference scripts and of make bench's
# peers (Keras 3 with JAX and TensorFlow, PyTorch 2.x;
# tests/reference/requirements.txt) in $(VENV). Never needed by tests.
VENV ?= .venv
venv:
	@./scripts/venv.sh $(VENV)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
