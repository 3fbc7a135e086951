# weft's front door: a thin layer over CMake and CTest.
#
#   make          build everything into build/ (installing missing Debian
#                 packages first when run as root)
#   make run      build, then run the main job
#   make check    build and run every test, then the ThreadSanitizer stress
#                 tests in build-tsan/ and the fuzz seed replay under
#                 AddressSanitizer + UBSan in build-asan/
#   make asan     the whole suite under AddressSanitizer + UBSan (build-asan/)
#   make tsan     the whole suite under ThreadSanitizer (build-tsan/)
#   make bench    the benchmarks against their peers (build-bench/)
#   make fuzz     run the HTTP fuzzer for FUZZ_SECONDS (clang, build-fuzz/)
#   make format   apply .clang-format to every C file
#   make install  install under PREFIX (default /usr/local)

MAKEFLAGS += --no-print-directory
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX  ?= /usr/local
CMAKE   ?= cmake
CTEST   ?= ctest
CTEST_FLAGS ?= --output-on-failure --no-tests=error -j$(JOBS)

configure = $(CMAKE) -S . -B $(1) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(2) >/dev/null

FUZZ_SECONDS ?= 120
TESTDATA ?= $(abspath ../shared/testdata)

.PHONY: all build run check test asan tsan tsan-stress asan-fuzz bench fuzz format install clean deps-%

all: build

deps-%:
	@scripts/deps.sh $*

build: deps-build
	@$(call configure,build,)
	$(CMAKE) --build build -j$(JOBS)

run: build
	./build/apps/weft/weft

check: deps-test build
	$(CTEST) --test-dir build $(CTEST_FLAGS)
	$(MAKE) tsan-stress
	$(MAKE) asan-fuzz

test: check

tsan-stress: deps-tsan
	@$(call configure,build-tsan,-DWEFT_SANITIZE=tsan)
	$(CMAKE) --build build-tsan -j$(JOBS)
	$(CTEST) --test-dir build-tsan -L stress $(CTEST_FLAGS)

tsan: deps-tsan
	@$(call configure,build-tsan,-DWEFT_SANITIZE=tsan)
	$(CMAKE) --build build-tsan -j$(JOBS)
	$(CTEST) --test-dir build-tsan $(CTEST_FLAGS)

asan-fuzz: deps-asan
	@$(call configure,build-asan,-DWEFT_SANITIZE=asan)
	$(CMAKE) --build build-asan -j$(JOBS) --target fuzz-http-replay
	$(CTEST) --test-dir build-asan -L fuzz $(CTEST_FLAGS)

asan: deps-asan
	@$(call configure,build-asan,-DWEFT_SANITIZE=asan)
	$(CMAKE) --build build-asan -j$(JOBS)
	$(CTEST) --test-dir build-asan $(CTEST_FLAGS)

bench: deps-bench
	@$(call configure,build-bench,-DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_BENCH=ON)
	$(CMAKE) --build build-bench -j$(JOBS)
	bench/run-all build-bench

fuzz: deps-fuzz
	@CC=clang CXX=clang++ $(call configure,build-fuzz,-DWEFT_SANITIZE=asan -DWEFT_FUZZ=ON)
	$(CMAKE) --build build-fuzz -j$(JOBS) --target fuzz-http
	mkdir -p build-fuzz/corpus && cp -n $(TESTDATA)/h2o-fuzz/http1-corpus/* build-fuzz/corpus/
	cd build-fuzz && ./tests/fuzz/fuzz-http -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
		-max_len=8192 -dict=$(TESTDATA)/h2o-fuzz/http.dict corpus

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

install: build
	$(CMAKE) --install build

clean:
	rm -rf build build-asan build-tsan build-bench build-fuzz
