#include "common/conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t') {
		s++;
	}
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
					s[n - 1] == '\n')) {
		s[--n] = '\0';
	}
	return s;
}

/* Cut a comment: '#' at the start or after whitespace, outside quotes. */
static void strip_comment(char *s)
{
	int quoted = 0;
	for (char *p = s; *p != '\0'; p++) {
		if (*p == '"') {
			quoted = !quoted;
		} else if (*p == '#' && !quoted && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

int rs_conf_parse_file(const char *path, rs_conf_cb cb, void *ud, char *err, size_t errsz)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		int rc = -errno;
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return rc;
	}
	char buf[4096];
	unsigned line = 0;
	int rc = 0;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		line++;
		if (strchr(buf, '\n') == NULL && !feof(f)) {
			snprintf(err, errsz, "%s:%u: line too long", path, line);
			rc = RS_ECONF;
			break;
		}
		strip_comment(buf);
		char *s = trim(buf);
		if (*s == '\0') {
			continue;
		}
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, errsz, "%s:%u: expected 'key = value'", path, line);
			rc = RS_ECONF;
			break;
		}
		*eq = '\0';
		char *key = trim(s);
		char *value = trim(eq + 1);
		if (*key == '\0') {
			snprintf(err, errsz, "%s:%u: missing key", path, line);
			rc = RS_ECONF;
			break;
		}
		size_t vl = strlen(value);
		if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
			value[vl - 1] = '\0';
			value++;
		}
		rc = cb(key, value, line, ud);
		if (rc < 0) {
			snprintf(err, errsz, "%s:%u: invalid value for '%s': %s", path, line, key,
					value);
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		rc = RS_EIO;
		snprintf(err, errsz, "%s: read error", path);
	}
	fclose(f);
	return rc;
}
