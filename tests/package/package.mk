# tests/package/package.mk - the Debian packages on this machine.
#
#   make check-deb   builds them (make deb: dpkg-buildpackage, lintian), then
#                    tests/package/check-deb installs both, checks contents,
#                    the shipped configuration, the unit (systemd-analyze
#                    verify), a confined start of the installed daemon and
#                    the DKMS build, and purges them again (~2 min, most of
#                    it DKMS). Needs root, else skipped (exit 77).

.PHONY: check-deb
check-deb: | deps-ready
	@VERSION='$(VERSION)' scripts/build-deb build/deb
	@scripts/run-tests deb tests/package/check-deb

CHECK_STEPS += check-deb
