/* SPDX-License-Identifier: MIT */
/*
 * autoballoond - automatic memory ballooning for QEMU/KVM guests.
 *
 * Exit status: 0 after a clean stop (SIGTERM/SIGINT), 1 on a runtime
 * failure, 2 on a usage or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "manager.h"
#include "metrics.h"
#include "util.h"

#define DEFAULT_CONFIG "/etc/autoballoon/autoballoond.conf"

struct daemon {
	const char *config_path;
	struct logger log;
	struct daemon_config cfg;
	struct loop *loop;
	struct manager *mgr;
	struct control *ctl;
	struct metrics *metrics;
	struct loop_watch *signals;
	bool stopping;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: autoballoond [OPTIONS]\n"
		"Automatic memory ballooning for QEMU/KVM guests.\n\n"
		"  -c, --config FILE        configuration (default %s)\n"
		"      --check-config FILE  check FILE, print what is wrong, exit\n"
		"  -v, --verbose            log at debug level\n"
		"  -V, --version            print the version\n"
		"  -h, --help               this text\n\n"
		"Exit status: 0 clean stop, 1 runtime failure, 2 usage or config error.\n",
		DEFAULT_CONFIG);
}

static int load_config(const char *path, struct daemon_config *cfg)
{
	char err[8192];
	int r;

	config_init_defaults(cfg);
	r = config_load(path, cfg, err, sizeof(err));
	if (r < 0) {
		fputs(err, stderr);
		config_free(cfg);
	}
	return r;
}

static void on_stopped(void *data)
{
	struct daemon *d = data;

	log_info(&d->log, "stopped");
	loop_quit(d->loop, 0);
}

static void reload(struct daemon *d)
{
	struct daemon_config nc;

	log_info(&d->log, "SIGHUP: reloading %s", d->config_path);
	if (load_config(d->config_path, &nc) < 0) {
		log_err(&d->log, "reload failed: keeping the running configuration");
		return;
	}
	/* Surfaces that cannot change at runtime keep their settings. */
	if (strcmp(nc.control_socket, d->cfg.control_socket) ||
	    nc.metrics_port != d->cfg.metrics_port ||
	    strcmp(nc.metrics_address, d->cfg.metrics_address))
		log_warn(&d->log, "control_socket/metrics changes need a restart");
	snprintf(nc.control_socket, sizeof(nc.control_socket), "%s", d->cfg.control_socket);
	snprintf(nc.metrics_address, sizeof(nc.metrics_address), "%s", d->cfg.metrics_address);
	nc.metrics_port = d->cfg.metrics_port;
	d->log.level = nc.log_level;
	if (manager_reload(d->mgr, &nc) < 0)
		log_err(&d->log, "reload: host monitoring could not be set up again");
	config_free(&nc);
	sd_notify(0, "READY=1");
}

static void on_signal(struct loop_watch *w, int signo, void *data)
{
	struct daemon *d = data;

	switch (signo) {
	case SIGHUP:
		sd_notify(0, "RELOADING=1");
		reload(d);
		break;
	case SIGTERM:
	case SIGINT:
		if (d->stopping) {
			log_warn(&d->log, "second stop signal: exiting now");
			loop_quit(d->loop, 0);
			return;
		}
		d->stopping = true;
		sd_notify(0, "STOPPING=1");
		log_info(&d->log, "%s: stopping%s", strsignal(signo),
			 d->cfg.restore_on_exit ? ", returning balloons to max" : "");
		manager_shutdown(d->mgr, on_stopped, d);
		break;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon d = { .config_path = DEFAULT_CONFIG };
	bool verbose = false;
	sigset_t sigs;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'C':
			if (load_config(optarg, &d.cfg) < 0)
				return 2;
			printf("%s: OK (%zu VMs, policy %s)\n", optarg, d.cfg.nvms,
			       policy_kind_name(d.cfg.policy));
			config_free(&d.cfg);
			return 0;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("autoballoond %s\n", AB_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	d.log.journal = getenv("JOURNAL_STREAM") != NULL;
	d.log.timestamps = !d.log.journal;
	if (load_config(d.config_path, &d.cfg) < 0)
		return 2;
	d.log.level = verbose ? LOG_LVL_DEBUG : d.cfg.log_level;
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	r = loop_new(&d.loop);
	if (r < 0)
		goto fail;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	r = loop_add_signals(d.loop, &sigs, on_signal, &d, &d.signals);
	if (r < 0)
		goto fail;
	r = manager_new(d.loop, &d.log, &d.cfg, &d.mgr);
	if (r < 0)
		goto fail;
	r = manager_start(d.mgr);
	if (r < 0)
		goto fail;
	r = control_new(d.loop, &d.log, d.cfg.control_socket, d.mgr, &d.ctl);
	if (r < 0) {
		log_err(&d.log, "control socket %s: %s", d.cfg.control_socket,
			r == -EADDRINUSE ? "another autoballoond answers there" : strerror(-r));
		goto fail;
	}
	if (d.cfg.metrics_port) {
		r = metrics_new(d.loop, d.cfg.metrics_address, d.cfg.metrics_port, d.mgr,
				&d.metrics);
		if (r < 0) {
			log_err(&d.log, "metrics on %s:%u: %s", d.cfg.metrics_address,
				d.cfg.metrics_port, strerror(-r));
			goto fail;
		}
		log_info(&d.log, "metrics on http://%s:%u/metrics", d.cfg.metrics_address,
			 d.cfg.metrics_port);
	}
	log_info(&d.log, "autoballoond %s ready; control socket %s", AB_VERSION,
		 d.cfg.control_socket);
	sd_notify(0, "READY=1");
	r = loop_run(d.loop);
fail:
	if (r < 0)
		log_err(&d.log, "fatal: %s", strerror(-r));
	metrics_free(d.metrics);
	control_free(d.ctl);
	manager_free(d.mgr);
	loop_remove(d.signals);
	loop_free(d.loop);
	config_free(&d.cfg);
	return r < 0 ? 1 : 0;
}
