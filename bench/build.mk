# bench/build.mk - the test harness library (bench/harness.h, bench/hx_*.c).
#
#   build/libabharness.a        release
#   build/asan/libabharness.a   ASan+UBSan, for tests
#
# Link programs with:  <objs> build/libabharness.a $(LIBS)

HX_SRCS := bench/hx_util.c bench/hx_guard.c bench/hx_slice.c bench/hx_readers.c \
	bench/hx_swap.c bench/hx_line.c bench/hx_env.c bench/hx_vm_start.c bench/hx_vm.c \
	bench/hx_storage.c bench/hx_daemon.c
HX_LIB  := $(B)/libabharness.a
HX_ALIB := $(ASAN)/libabharness.a

# rm first: `ar r` keeps members whose source is gone (a renamed file's
# object would still define its symbols).
$(HX_LIB): $(call obj,$(HX_SRCS))
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^
$(HX_ALIB): $(call aobj,$(HX_SRCS))
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

PROGRAMS += $(HX_LIB) $(HX_ALIB)
