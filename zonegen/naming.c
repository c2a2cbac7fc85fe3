#include "zonegen/naming.h"

#include <stdbool.h>
#include <string.h>

#include "common/error.h"

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

int zg_naming_parse(const char *name, size_t len, struct zg_naming *out)
{
	const char *first = memchr(name, '-', len);
	if (first == NULL || first == name) {
		return RS_EINVAL;
	}
	size_t last = len;
	while (last > 0 && name[last - 1] != '-') {
		last--;
	}
	/* last is the offset just after the final hyphen */
	size_t site_len = (size_t)(first - name);
	size_t role_off = site_len + 1;
	if (last <= role_off + 1 || last >= len) {
		return RS_EINVAL; /* fewer than three parts, or an empty one */
	}
	size_t role_len = last - 1 - role_off;
	if (!is_alpha(name[last]) || len - last < 2) {
		return RS_EINVAL;
	}
	for (size_t i = last + 1; i < len; i++) {
		if (!is_alnum(name[i])) {
			return RS_EINVAL;
		}
	}
	for (size_t i = 0; i < site_len; i++) {
		if (!is_alnum(name[i])) {
			return RS_EINVAL;
		}
	}
	out->site_len = site_len;
	out->role_off = role_off;
	out->role_len = role_len;
	out->pool_off = last;
	out->id_off = last + 1;
	out->id_len = len - last - 1;
	return 0;
}
