/*
 * server/config_internal.h - rosterd's settings table, shared by the
 * parser (config.c) and nothing else.
 *
 * Owns: struct opt, one row per setting: its name (the flag and the file
 * key), type, whether SIGHUP reloads it, bounds, and where it lives in
 * struct server_config.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"

enum opt_type {
	OPT_LABEL, /* one DNS label, lower-cased */
	OPT_NAME,  /* a domain name, canonical */
	OPT_NAME_LIST,
	OPT_LISTEN,        /* address:port, repeatable */
	OPT_PREFIX_LIST,   /* CIDR[,CIDR]..., repeatable */
	OPT_ENDPOINT_LIST, /* ADDR[:PORT][,...], port 53 by default, repeatable */
	OPT_PATH,
	OPT_U32,
	OPT_U64_BYTES, /* with K/M/G suffixes */
	OPT_MS,        /* a duration: 500ms, 10s, 5m, 1h; plain numbers are seconds */
	OPT_FRACTION,  /* 0 < x <= 1, or a percentage "15%" */
	OPT_BOOL,
	OPT_LOGLEVEL,
	OPT_LOGFORMAT,
	OPT_DNSIO, /* auto, uring, mmsg */
};

struct opt {
	const char *name;
	enum opt_type type;
	bool reloadable;
	uint64_t min, max; /* for numbers */
	size_t offset;     /* into struct server_config */
	const char *help;
};

#define OFF(f) offsetof(struct server_config, f)

/** The settings, in --help's order (config_opts.c). */
extern const struct opt config_opts[];

/** Rows of config_opts (checked against the table where it is defined). */
#define NOPTS 68
_Static_assert(NOPTS <= CONFIG_MAX_SETTINGS, "file_sig holds every setting");
