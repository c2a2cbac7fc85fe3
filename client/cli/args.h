/*
 * client/cli/args.h - the roster command line: global options, one command,
 * its options, checked before anything touches the network.
 *
 * Options may come before or after the command. Each option belongs to a set
 * of commands; an option given to a command it does not belong to, a missing
 * required option or a malformed value is a usage error (exit 2) with one
 * line saying which. Pure: argv is borrowed (the result points into it).
 * The options are a table on common/flags.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "roster/client.h"

#define ARGS_MAX_SERVERS 8
#define ARGS_MAX_ADDRESSES 16
#define ARGS_MAX_META 32

enum args_cmd {
	ARGS_NONE = 0,
	ARGS_QUERY,
	ARGS_REGISTER,
	ARGS_DEREGISTER,
	ARGS_STATUS,
	ARGS_LIST,
	ARGS_WATCH,
	ARGS_RING,
	ARGS_REPORTS,
	ARGS_STATS,
	ARGS_DOCTOR,
	ARGS_BACKUP,
	ARGS_HELP,
};

struct args {
	/* global */
	const char *servers[ARGS_MAX_SERVERS];
	size_t n_servers;
	const char *site;
	bool json;
	uint32_t timeout_ms;    /**< 0: the library's default */
	const char *cache;      /**< --cache FILE */
	const char *token_file; /**< --token-file FILE (ROSTER_TOKEN otherwise) */
	uint32_t max_stale;     /**< --max-stale SECONDS; 0: default */
	/* command */
	enum args_cmd cmd;
	const char *service, *protocol, *host, *key;
	const char *service_arg; /**< query's positional service, before it is checked */
	const char *file;        /**< backup FILE */
	uint16_t port;
	const char *addresses[ARGS_MAX_ADDRESSES];
	size_t n_addresses;
	struct roster_meta meta[ARGS_MAX_META];
	char meta_keys[ARGS_MAX_META][128];
	size_t n_meta;
	uint32_t ttl; /**< 0: not given */
	bool permanent, starting, all;
	uint16_t weight, priority;
	enum roster_status status;                 /**< the status command's argument */
	const char *secondaries[ARGS_MAX_SERVERS]; /**< doctor --secondary ADDR:PORT */
	size_t n_secondaries;
	uint32_t max_lag_ms;    /**< doctor --max-lag; 0: 5000 */
	bool help;              /**< -h or --help was given (cmd is then ARGS_HELP) */
	bool version;           /**< --version was given (cmd is then ARGS_HELP) */
	enum args_cmd help_cmd; /**< ARGS_HELP: the command whose help is asked; NONE:
				 * the general usage */
};

/**
 * Parse the arguments after the program name.
 * @param err set to a one-line message (no "roster: " prefix) on failure.
 * @return 0, or 2 (usage error).
 */
__attribute__((warn_unused_result)) int args_parse(
		int argc, char *const argv[], struct args *out, char *err, size_t errsz);

/** The usage text. */
const char *args_usage(void);

/**
 * Print @p cmd's help: its synopsis, what it does, its own options with
 * their meaning and default, then the global options.
 * @param cmd ARGS_NONE: the general usage (args_usage()).
 */
void args_command_usage(FILE *out, enum args_cmd cmd);

/** The command's name ("query"...). */
const char *args_cmd_name(enum args_cmd cmd);
