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

# `make install` (DESTDIR, PREFIX, SYSTEMDUNITDIR): binaries, the example
# configuration, the systemd unit (its /usr/local paths become PREFIX). The
# unit expects /etc/autoballoon/autoballoond.conf. Debian packages set
# PREFIX=/usr SYSTEMDUNITDIR=/lib/systemd/system.
PREFIX ?= /usr/local
SYSTEMDUNITDIR ?= /etc/systemd/system
.PHONY: install
install: $(B)/autoballoond $(B)/autoballoonctl
	install -D -m 0755 $(B)/autoballoond $(DESTDIR)$(PREFIX)/sbin/autoballoond
	install -D -m 0755 $(B)/autoballoonctl $(DESTDIR)$(PREFIX)/bin/autoballoonctl
	install -D -m 0644 etc/autoballoond.conf.example \
		$(DESTDIR)$(PREFIX)/share/doc/autoballoon/autoballoond.conf.example
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/autoballoon/README.md
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|/usr/local/|$(PREFIX)/|g' contrib/autoballoond.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/autoballoond.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/autoballoond.service
