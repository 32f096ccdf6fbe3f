# man/build.mk - the manual pages: autoballoond(8), autoballoonctl(1),
# autoballoond.conf(5). `make install` puts them in $(MANDIR)/manN
# (default $(PREFIX)/share/man).

MAN_PAGES := man/autoballoond.8 man/autoballoonctl.1 man/autoballoond.conf.5
MANDIR ?= $(PREFIX)/share/man

.PHONY: install-man
install: install-man
install-man:
	for p in $(MAN_PAGES); do \
		install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/} || exit 1; \
	done
