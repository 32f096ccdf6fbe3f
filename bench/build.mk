# bench/build.mk - the test harness library (bench/harness.[ch]).
#
#   build/libabharness.a        release
#   build/asan/libabharness.a   ASan+UBSan, for tests
#
# Link programs with:  <objs> build/libabharness.a $(LIBS)

HX_SRCS := bench/harness.c bench/hx_util.c bench/hx_storage.c bench/hx_daemon.c
HX_LIB  := $(B)/libabharness.a
HX_ALIB := $(ASAN)/libabharness.a

$(HX_LIB): $(call obj,$(HX_SRCS))
	@mkdir -p $(@D)
	ar rcs $@ $^
$(HX_ALIB): $(call aobj,$(HX_SRCS))
	@mkdir -p $(@D)
	ar rcs $@ $^

PROGRAMS += $(HX_LIB) $(HX_ALIB)
