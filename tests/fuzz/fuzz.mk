# tests/fuzz/fuzz.mk - libFuzzer harnesses (clang, ASan+UBSan) for what the
# daemon reads from outside: QMP (qmp), guest stats (stats), the config file
# (config), the control protocol (control), host text files (host).
#
#   make check-fuzz           each harness ~5 s from its seeds and the saved
#                             corpus, after replaying tests/fuzz/regress/
#                             (inputs that once crashed): part of make check
#   make fuzz                 long runs: FUZZ_TIME seconds per harness
#                             (default 600), FUZZ_TARGETS to pick some
#   make fuzz-coverage        line/region coverage of src/ by the corpora
#                             (llvm-cov), into build/fuzz/coverage.txt
#
# Crashes land in build/fuzz/artifacts/; one that is fixed becomes a file in
# tests/fuzz/regress/TARGET/.

FUZZ_DIR      := $(B)/fuzz
FUZZ_CC       := clang
FUZZ_TARGETS  ?= qmp stats config control host
FUZZ_TIME     ?= 600
FUZZ_SMOKE    ?= 5
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   := -std=gnu11 -g -O1 -fno-omit-frame-pointer $(WARN) -D_GNU_SOURCE \
	-Isrc -MMD -MP $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_COV_CFLAGS := -std=gnu11 -g -O1 $(WARN) -D_GNU_SOURCE -Isrc -MMD -MP \
	-fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer-no-link
FUZZ_BINS     := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_TARGETS))
FUZZ_COV_BINS := $(addprefix $(FUZZ_DIR)/cov/fuzz_,$(FUZZ_TARGETS))

$(FUZZ_DIR)/obj/%.o: %.c | deps-ready
	@mkdir -p $(@D)
	$(call msg,CC-FUZZ,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ_DIR)/cov/obj/%.o: %.c | deps-ready
	@mkdir -p $(@D)
	$(call msg,CC-COV,$<)
	$(Q)$(FUZZ_CC) $(FUZZ_COV_CFLAGS) -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRCS))
	$(call msg,LD-FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)
$(FUZZ_DIR)/cov/fuzz_%: $(FUZZ_DIR)/cov/obj/tests/fuzz/fuzz_%.o $(patsubst %.c,$(FUZZ_DIR)/cov/obj/%.o,$(LIB_SRCS))
	$(call msg,LD-COV,$@)
	$(Q)$(FUZZ_CC) -fprofile-instr-generate -fsanitize=fuzzer -o $@ $^ $(LIBS)

.SECONDARY: $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRCS) $(wildcard tests/fuzz/fuzz_*.c)) \
	$(patsubst %.c,$(FUZZ_DIR)/cov/obj/%.o,$(LIB_SRCS) $(wildcard tests/fuzz/fuzz_*.c))

.PHONY: check-fuzz fuzz fuzz-coverage
check-fuzz: $(FUZZ_BINS)
	@tests/fuzz/run-fuzz $(FUZZ_SMOKE) $(FUZZ_TARGETS)
fuzz: $(FUZZ_BINS)
	@tests/fuzz/run-fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)
fuzz-coverage: $(FUZZ_COV_BINS)
	@tests/fuzz/run-fuzz --coverage $(FUZZ_TARGETS)

CHECK_STEPS += check-fuzz
