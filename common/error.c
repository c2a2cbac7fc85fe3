#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rs_strerror(int err)
{
	switch (err) {
	case RS_OK:
		return "ok";
	case RS_ENAME_EMPTY:
		return "empty name or label";
	case RS_ENAME_LABEL_LONG:
		return "label longer than 63 octets";
	case RS_ENAME_LONG:
		return "name longer than 255 octets";
	case RS_ENAME_CHAR:
		return "invalid character in name (letters, digits and hyphens only)";
	case RS_ENAME_HYPHEN:
		return "label starts or ends with a hyphen";
	case RS_ENAME_NUMERIC:
		return "all-numeric top-level label";
	case RS_ENAME_SINGLE:
		return "a single label is not a fully qualified host name (an SRV target is "
		       "absolute: give the FQDN)";
	case RS_EADDR:
		return "not an IPv4 or IPv6 address";
	case RS_EPORT:
		return "invalid port (1-65535)";
	case RS_EFRAME_EMPTY:
		return "zero-length frame";
	case RS_EFRAME_BIG:
		return "frame larger than the limit";
	case RS_EFRAME_TRUNC:
		return "stream ended inside a frame";
	case RS_EPROTO:
		return "malformed message";
	case RS_ELEASE:
		return "unknown or expired lease";
	case RS_ELIMIT:
		return "limit exceeded";
	case RS_ETTL:
		return "TTL out of range";
	case RS_ESTATUS:
		return "invalid status";
	case RS_EFIXED:
		return "static instance (from --static): change the file and reload";
	case RS_ESTORE_FULL:
		return "store full";
	case RS_ESTORE:
		return "storage error";
	case RS_ESTORE_PANIC:
		return "storage failed fatally";
	case RS_ESTORE_DAMAGED:
		return "store damaged";
	case RS_ECONF:
		return "invalid configuration";
	default:
		break;
	}
	if (err < 0 && err > -1000) {
		/* strerror() is not thread-safe in general, but glibc returns
		 * static strings for known codes. */
		return strerror(-err);
	}
	return "unknown error";
}

int rs_error_printf(char *err, size_t errsz, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return code;
}
