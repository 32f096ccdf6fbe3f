# tests/fakeqmp/fakeqmp.mk - the fake QMP peer (a fake QEMU for fault and
# scale tests) and the client helpers tests use to drive it.
#
#   build/tests/fakeqmp/fakeqmp        release (scale runs)
#   build/asan/tests/fakeqmp/fakeqmp   ASan+UBSan (fault tests)
#   build/asan/libfq.a                 fq_*: start/stop it, control requests

FAKEQMP      := $(B)/tests/fakeqmp/fakeqmp
FAKEQMP_ASAN := $(ASAN)/tests/fakeqmp/fakeqmp
FQ_SRCS      := tests/fakeqmp/fq.c
FQ_ALIB      := $(ASAN)/libfq.a
FQ_LIB       := $(B)/libfq.a

$(call obj,$(FQ_SRCS)): AB_CPPFLAGS += -Ibench
$(call aobj,$(FQ_SRCS)): SAN_CFLAGS += -Ibench

$(FAKEQMP): $(call obj,tests/fakeqmp/fakeqmp.c) $(LIB)
	@mkdir -p $(@D)
	$(call msg,LD,$@)
	$(Q)$(LINK) -o $@ $^ $(LIBS)
$(FAKEQMP_ASAN): $(call aobj,tests/fakeqmp/fakeqmp.c) $(ALIB)
	@mkdir -p $(@D)
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS)
$(FQ_ALIB): $(call aobj,$(FQ_SRCS))
	@mkdir -p $(@D)
	$(Q)ar rcs $@ $^
$(FQ_LIB): $(call obj,$(FQ_SRCS))
	@mkdir -p $(@D)
	$(Q)ar rcs $@ $^

PROGRAMS += $(FAKEQMP) $(FAKEQMP_ASAN)
