# src/build.mk - the daemon library and programs.

LIB_SRCS := $(filter-out src/autoballoond.c src/autoballoonctl.c,$(wildcard src/*.c))
LIB      := $(B)/libautoballoon.a
ALIB     := $(ASAN)/libautoballoon.a

$(LIB): $(call obj,$(LIB_SRCS))
	@mkdir -p $(@D)
	ar rcs $@ $^
$(ALIB): $(call aobj,$(LIB_SRCS))
	@mkdir -p $(@D)
	ar rcs $@ $^

$(B)/autoballoond: $(call obj,src/autoballoond.c) $(LIB)
	$(CC) -o $@ $^ $(LIBS)
$(B)/autoballoonctl: $(call obj,src/autoballoonctl.c) $(LIB)
	$(CC) -o $@ $^ $(LIBS)
$(ASAN)/autoballoond: $(call aobj,src/autoballoond.c) $(ALIB)
	$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS)
$(ASAN)/autoballoonctl: $(call aobj,src/autoballoonctl.c) $(ALIB)
	$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS)

PROGRAMS += $(B)/autoballoond $(B)/autoballoonctl
