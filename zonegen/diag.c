#include "zonegen/diag.h"

#include <stdarg.h>
#include <string.h>

void zg_diag_init(struct zg_diag *d, FILE *out)
{
	memset(d, 0, sizeof(*d));
	d->out = out;
}

static void emit(struct zg_diag *d, const char *kind, size_t nth, const char *fmt, va_list ap)
{
	vsnprintf(d->last, sizeof(d->last), fmt, ap);
	if (d->out != NULL && nth <= ZG_DIAG_PRINT_MAX) {
		fprintf(d->out, "roster-zonegen: %s: %s\n", kind, d->last);
	}
}

void zg_diag_error(struct zg_diag *d, const char *fmt, ...)
{
	va_list ap;
	d->errors++;
	va_start(ap, fmt);
	emit(d, "error", d->errors, fmt, ap);
	va_end(ap);
	if (d->errors == 1) {
		memcpy(d->first, d->last, sizeof(d->first));
	}
}

void zg_diag_warn(struct zg_diag *d, const char *fmt, ...)
{
	va_list ap;
	d->warnings++;
	va_start(ap, fmt);
	emit(d, "warning", d->warnings, fmt, ap);
	va_end(ap);
}

void zg_diag_finish(struct zg_diag *d)
{
	if (d->out == NULL) {
		return;
	}
	if (d->errors > ZG_DIAG_PRINT_MAX) {
		fprintf(d->out, "roster-zonegen: %zu more errors not shown\n",
				d->errors - ZG_DIAG_PRINT_MAX);
	}
	if (d->warnings > ZG_DIAG_PRINT_MAX) {
		fprintf(d->out, "roster-zonegen: %zu more warnings not shown\n",
				d->warnings - ZG_DIAG_PRINT_MAX);
	}
}
