# tests/unit/unit.mk - cmocka unit tests, built and run under ASan+UBSan.

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(ASAN)/tests/unit/%,$(UNIT_SRCS))

$(ASAN)/tests/unit/%: $(ASAN)/obj/tests/unit/%.o $(ALIB)
	@mkdir -p $(@D)
	$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

.PHONY: check-unit
check-unit: $(UNIT_BINS)
	@scripts/run-tests unit $(UNIT_BINS)

CHECK_STEPS += check-unit
