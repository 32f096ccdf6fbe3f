/* SPDX-License-Identifier: MIT */
/*
 * autoballoonctl - talk to autoballoond over its control socket.
 *
 *   autoballoonctl [-s SOCKET] status [--json]
 *   autoballoonctl [-s SOCKET] dump
 *   autoballoonctl [-s SOCKET] set VM [min=SIZE] [max=SIZE] [weight=N]
 *   autoballoonctl [-s SOCKET] pause | resume
 *   autoballoonctl --version
 *
 * Exit status: 0 success, 1 the daemon answered with an error or cannot be
 * reached, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qmp.h"
#include "util.h"

#define DEFAULT_SOCKET "/run/autoballoon/control.sock"
#define TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: autoballoonctl [-s SOCKET] COMMAND\n"
		"  status [--json]                      one row per VM\n"
		"  dump                                 the daemon's whole state (JSON)\n"
		"  set VM [min=SIZE] [max=SIZE] [weight=N]\n"
		"  pause                                stop changing balloons\n"
		"  resume\n"
		"  -V, --version                        print the version\n"
		"Default socket: %s\n", DEFAULT_SOCKET);
}

struct reply_slot {
	json_t *reply;
};

static int on_reply_line(const char *line, size_t len, void *data)
{
	struct reply_slot *slot = data;

	if (!slot->reply)
		slot->reply = json_loadb(line, len, 0, NULL);	/* integers stay exact */
	return slot->reply ? -ECANCELED : -EBADMSG;
}

static int request(const char *path, json_t *req, json_t **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct reply_slot slot = { 0 };
	struct qmp_framer fr;
	uint64_t deadline = now_ms() + TIMEOUT_MS;
	char *line, buf[65536];
	size_t off = 0, len;
	int fd, r = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	line = json_dumps(req, JSON_COMPACT);
	if (!line) {
		close(fd);
		return -ENOMEM;
	}
	len = strlen(line);
	line[len] = '\n';	/* json_dumps leaves room for the NUL */
	while (off < len + 1) {
		ssize_t n = send(fd, line + off, len + 1 - off, MSG_NOSIGNAL);

		if (n < 0) {
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	free(line);
	qmp_framer_init(&fr, 256 * 1024 * 1024);
	while (r == 0 && !slot.reply) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			r = n == 0 ? -ECONNRESET : -errno;
			break;
		}
		r = qmp_framer_feed(&fr, buf, (size_t)n, on_reply_line, &slot);
		if (r == -ECANCELED)
			r = 0;
	}
	qmp_framer_free(&fr);
	close(fd);
	if (r < 0) {
		json_decref(slot.reply);
		return r;
	}
	*ret = slot.reply;
	return 0;
}

static const char *mib(const json_t *v, char *buf, size_t len)
{
	if (!json_is_number(v))
		return "-";
	snprintf(buf, len, "%.0f", json_number_value(v) / (double)MIB);
	return buf;
}

static const char *rate(const json_t *v, char *buf, size_t len)
{
	if (!json_is_number(v))
		return "-";
	snprintf(buf, len, "%.0f", json_number_value(v));
	return buf;
}

static void print_status(const json_t *st)
{
	const json_t *host = json_object_get(st, "host");
	const json_t *vms = json_object_get(st, "vms");
	char b[8][32];
	size_t i;
	json_t *vm;

	printf("host: %s%s%s  limit %s MiB  used %s MiB  available %s MiB  %s%s  policy %s%s\n",
	       json_string_value(json_object_get(host, "kind")),
	       *json_string_value(json_object_get(host, "cgroup")) ? " " : "",
	       json_string_value(json_object_get(host, "cgroup")),
	       mib(json_object_get(host, "total_bytes"), b[0], 32),
	       mib(json_object_get(host, "used_bytes"), b[1], 32),
	       mib(json_object_get(host, "available_bytes"), b[2], 32),
	       json_is_true(json_object_get(host, "pressured")) ? "PRESSURED" : "relaxed",
	       "", json_string_value(json_object_get(st, "policy")),
	       json_is_true(json_object_get(st, "paused")) ? "  PAUSED" : "");
	printf("%-16s %7s %7s %7s %7s %7s %7s %8s %8s  %s\n", "VM", "MAX", "MIN",
	       "TARGET", "ACTUAL", "AVAIL", "CACHE", "SWAPIN/s", "MAJFLT/s", "STATE");
	json_array_foreach(vms, i, vm) {
		const json_t *cd = json_object_get(vm, "cooldown_ms");

		printf("%-16s %7s %7s %7s %7s %7s %7s %8s %8s  %s",
		       json_string_value(json_object_get(vm, "name")),
		       mib(json_object_get(vm, "max_bytes"), b[0], 32),
		       mib(json_object_get(vm, "min_bytes"), b[1], 32),
		       mib(json_object_get(vm, "target_bytes"), b[2], 32),
		       mib(json_object_get(vm, "actual_bytes"), b[3], 32),
		       mib(json_object_get(vm, "available_bytes"), b[4], 32),
		       mib(json_object_get(vm, "cache_bytes"), b[5], 32),
		       rate(json_object_get(vm, "swapin_pps"), b[6], 32),
		       rate(json_object_get(vm, "majflt_ps"), b[7], 32),
		       json_string_value(json_object_get(vm, "state")));
		if (json_is_number(cd) && json_number_value(cd) > 0)
			printf(" (cool-down %.0fs)", json_number_value(cd) / 1000.0);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *sock = DEFAULT_SOCKET, *cmd;
	json_t *req, *reply = NULL;
	bool json_out = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("autoballoonctl %s\n", AB_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	req = json_pack("{s:s}", "cmd", cmd);
	if (strcmp(cmd, "status") == 0) {
		if (optind < argc && strcmp(argv[optind], "--json") == 0) {
			json_out = true;
			optind++;
		}
	} else if (strcmp(cmd, "set") == 0) {
		if (optind >= argc) {
			fprintf(stderr, "autoballoonctl: set needs a VM name\n");
			json_decref(req);
			return 2;
		}
		json_object_set_new(req, "vm", json_string(argv[optind++]));
		for (; optind < argc; optind++) {
			char *eq = strchr(argv[optind], '=');

			if (!eq || eq == argv[optind]) {
				fprintf(stderr, "autoballoonctl: expected KEY=VALUE, got \"%s\"\n",
					argv[optind]);
				json_decref(req);
				return 2;
			}
			*eq = '\0';
			json_object_set_new(req, argv[optind], json_string(eq + 1));
		}
	} else if (strcmp(cmd, "dump") && strcmp(cmd, "pause") && strcmp(cmd, "resume")) {
		fprintf(stderr, "autoballoonctl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		json_decref(req);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "autoballoonctl: unexpected argument \"%s\"\n", argv[optind]);
		json_decref(req);
		return 2;
	}
	r = request(sock, req, &reply);
	json_decref(req);
	if (r < 0) {
		fprintf(stderr, "autoballoonctl: %s: %s\n", sock, strerror(-r));
		return 1;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));

		fprintf(stderr, "autoballoonctl: %s\n", e ? e : "malformed reply");
		json_decref(reply);
		return 1;
	}
	if (strcmp(cmd, "status") == 0 && !json_out) {
		print_status(json_object_get(reply, "status"));
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "dump") == 0) {
		/* sizes are integers and print exactly; rates are reals */
		json_dumpf(json_object_get(reply, strcmp(cmd, "dump") ? "status" : "dump"),
			   stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		printf("\n");
	} else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
		printf("%s\n", json_is_true(json_object_get(reply, "paused")) ? "paused" : "running");
	}
	json_decref(reply);
	return 0;
}
