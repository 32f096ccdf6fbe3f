# src/build.mk - the daemon library and programs.

LIB_SRCS := $(filter-out src/autoballoond.c src/autoballoonctl.c,$(wildcard src/*.c))
LIB      := $(B)/libautoballoon.a
ALIB     := $(ASAN)/libautoballoon.a

$(LIB): $(call obj,$(LIB_SRCS))
	@mkdir -p $(@D)
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $^
$(ALIB): $(call aobj,$(LIB_SRCS))
	@mkdir -p $(@D)
	$(call msg,AR,$@)
	$(Q)ar rcs $@ $^

# The programs print $(VERSION) (top Makefile); build/version changes when it
# does, so they are rebuilt then.
AB_MAIN_OBJS := $(call obj,src/autoballoond.c src/autoballoonctl.c) \
	$(call aobj,src/autoballoond.c src/autoballoonctl.c)
$(AB_MAIN_OBJS): AB_CPPFLAGS += -DAB_VERSION='"$(VERSION)"'
$(AB_MAIN_OBJS): $(B)/version
$(B)/version: FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = '$(VERSION)' ] || echo '$(VERSION)' > $@

$(B)/autoballoond: $(call obj,src/autoballoond.c) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(LINK) -o $@ $^ $(LIBS)
$(B)/autoballoonctl: $(call obj,src/autoballoonctl.c) $(LIB)
	$(call msg,LD,$@)
	$(Q)$(LINK) -o $@ $^ $(LIBS)
$(ASAN)/autoballoond: $(call aobj,src/autoballoond.c) $(ALIB)
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS)
$(ASAN)/autoballoonctl: $(call aobj,src/autoballoonctl.c) $(ALIB)
	$(call msg,LD-SAN,$@)
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(LIBS)

PROGRAMS += $(B)/autoballoond $(B)/autoballoonctl

# `make install` (DESTDIR, PREFIX): binaries, the example configuration, the
# systemd unit. The unit expects /etc/autoballoon/autoballoond.conf.
PREFIX ?= /usr/local
.PHONY: install
install: $(B)/autoballoond $(B)/autoballoonctl
	install -D -m 0755 $(B)/autoballoond $(DESTDIR)$(PREFIX)/sbin/autoballoond
	install -D -m 0755 $(B)/autoballoonctl $(DESTDIR)$(PREFIX)/bin/autoballoonctl
	install -D -m 0644 etc/autoballoond.conf.example \
		$(DESTDIR)$(PREFIX)/share/doc/autoballoon/autoballoond.conf.example
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/autoballoon/README.md
	install -D -m 0644 contrib/autoballoond.service \
		$(DESTDIR)/etc/systemd/system/autoballoond.service
