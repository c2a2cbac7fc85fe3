/*
 * tests/unit/common/argv_split.h - a command line for the tests of flag
 * parsers (common/flags, the roster CLI, rosterd's config): split at spaces,
 * without quoting, into caller's storage.
 */
#pragma once

#include <stdio.h>
#include <string.h>

#define ARGV_SPLIT_MAX 40

/* Split @p line at spaces into @p argv, pointing into @p buf (512 bytes).
 * @return argc (at most ARGV_SPLIT_MAX); argv[argc] is NULL. */
static inline int argv_split(const char *line, char buf[512], char *argv[ARGV_SPLIT_MAX + 1])
{
	snprintf(buf, 512, "%s", line);
	int n = 0;
	for (char *save = NULL, *t = strtok_r(buf, " ", &save); t != NULL && n < ARGV_SPLIT_MAX;
			t = strtok_r(NULL, " ", &save)) {
		argv[n++] = t;
	}
	argv[n] = NULL;
	return n;
}
