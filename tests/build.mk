# tests/build.mk - every test directory brings its own *.mk fragment.
include $(sort $(wildcard tests/*/*.mk))
