# tests/lint/lint.mk - static analysis of src/ with the configuration in
# the tree: cppcheck (options below, tests/lint/cppcheck-suppressions.txt)
# and clang-tidy (.clang-tidy at the top). Both must be clean. AB_VERSION
# is what the build defines for autoballoond.c and autoballoonctl.c.
#
#   make lint      (also check-lint, a make check step, ~20 s)

LINT_SRCS := $(wildcard src/*.c)
CPPCHECK_FLAGS := --enable=warning,style,performance,portability --std=c11 \
	-D_GNU_SOURCE -Isrc --inline-suppr --quiet --error-exitcode=1 \
	--suppressions-list=tests/lint/cppcheck-suppressions.txt

.PHONY: lint check-lint
lint check-lint: | deps-ready
	@echo "  LINT   cppcheck $(words $(LINT_SRCS)) files"
	@cppcheck $(CPPCHECK_FLAGS) $(LINT_SRCS)
	@echo "  LINT   clang-tidy $(words $(LINT_SRCS)) files"
	@printf '%s\n' $(LINT_SRCS) | xargs -P2 -n3 sh -c \
		'clang-tidy --quiet "$$@" -- -std=gnu11 -D_GNU_SOURCE -DAB_VERSION=\"lint\" -Isrc 2>/dev/null' _
	@echo "  LINT   clean"

CHECK_STEPS += check-lint
