# Thin wrapper over Meson.  `make demo` and `make check` are the README's two
# commands: each installs its own dependencies first.
BUILD      ?= build
BUILD_SAN  ?= build-asan
MESON      ?= meson

.PHONY: all deps check check-asan unit e2e fuzz demo bench clean format

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) >/dev/null

deps:
	scripts/deps.sh

check: deps all
	scripts/check.sh $(BUILD) $(BUILD_SAN)

unit: all
	$(MESON) test -C $(BUILD) --suite unit --print-errorlogs

e2e: all
	$(MESON) test -C $(BUILD) --suite e2e --print-errorlogs

fuzz: deps
	scripts/fuzz.sh

demo: deps all
	demo/run.sh $(BUILD)

bench: all
	scripts/deps.sh --bench
	bench/launch $(BUILD)
	bench/proxy $(BUILD)
	bench/dlp $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
