# weft's front door: a thin layer over CMake and CTest.
#
#   make          build everything into build/ (installing missing Debian
#                 packages first when run as root)
#   make run      build, then run the main job
#   make check    build and run every test, then the ThreadSanitizer stress
#                 tests in build-tsan/
#   make asan     the whole suite under AddressSanitizer + UBSan (build-asan/)
#   make tsan     the whole suite under ThreadSanitizer (build-tsan/)
#   make bench    the benchmarks against their peers (build-bench/)
#   make format   apply .clang-format to every C file
#   make install  install under PREFIX (default /usr/local)

MAKEFLAGS += --no-print-directory
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX  ?= /usr/local
CMAKE   ?= cmake
CTEST   ?= ctest
CTEST_FLAGS ?= --output-on-failure --no-tests=error -j$(JOBS)

configure = $(CMAKE) -S . -B $(1) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(2) >/dev/null

.PHONY: all build run check test asan tsan tsan-stress bench format install clean deps-%

all: build

deps-%:
	@scripts/deps.sh $*

build: deps-build
	@$(call configure,build,)
	$(CMAKE) --build build -j$(JOBS)

run: build
	./build/examples/downloader

check: deps-test build
	$(CTEST) --test-dir build $(CTEST_FLAGS)
	$(MAKE) tsan-stress

test: check

tsan-stress: deps-tsan
	@$(call configure,build-tsan,-DWEFT_SANITIZE=tsan)
	$(CMAKE) --build build-tsan -j$(JOBS)
	$(CTEST) --test-dir build-tsan -L stress $(CTEST_FLAGS)

tsan: deps-tsan
	@$(call configure,build-tsan,-DWEFT_SANITIZE=tsan)
	$(CMAKE) --build build-tsan -j$(JOBS)
	$(CTEST) --test-dir build-tsan $(CTEST_FLAGS)

asan: deps-asan
	@$(call configure,build-asan,-DWEFT_SANITIZE=asan)
	$(CMAKE) --build build-asan -j$(JOBS)
	$(CTEST) --test-dir build-asan $(CTEST_FLAGS)

bench: deps-bench
	@$(call configure,build-bench,-DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_BENCH=ON)
	$(CMAKE) --build build-bench -j$(JOBS)
	bench/run-all build-bench

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

install: build
	$(CMAKE) --install build

clean:
	rm -rf build build-asan build-tsan build-bench
