#include "common/wire.h"

#include <string.h>

#include "common/error.h"

void rs_wire_reader_init(struct rs_wire_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->off = 0;
	r->failed = false;
}

size_t rs_wire_reader_left(const struct rs_wire_reader *r)
{
	return r->failed ? 0 : r->len - r->off;
}

int rs_wire_reader_error(const struct rs_wire_reader *r)
{
	return r->failed ? RS_ERANGE : 0;
}

/* Point *p at the next @p n bytes and advance past them; false (and failed)
 * when they do not fit. */
static bool take(struct rs_wire_reader *r, size_t n, const uint8_t **p)
{
	if (r->failed || n > r->len - r->off) {
		r->failed = true;
		*p = NULL;
		return false;
	}
	*p = r->data != NULL ? r->data + r->off : NULL; /* NULL + 0 is undefined */
	r->off += n;
	return true;
}

int rs_wire_read_u8(struct rs_wire_reader *r, uint8_t *out)
{
	const uint8_t *p;
	if (!take(r, 1, &p)) {
		*out = 0;
		return RS_ERANGE;
	}
	*out = p[0];
	return 0;
}

int rs_wire_read_u16(struct rs_wire_reader *r, uint16_t *out)
{
	const uint8_t *p;
	if (!take(r, 2, &p)) {
		*out = 0;
		return RS_ERANGE;
	}
	*out = rs_wire_load_u16(p);
	return 0;
}

int rs_wire_read_u32(struct rs_wire_reader *r, uint32_t *out)
{
	const uint8_t *p;
	if (!take(r, 4, &p)) {
		*out = 0;
		return RS_ERANGE;
	}
	*out = rs_wire_load_u32(p);
	return 0;
}

int rs_wire_read_u64(struct rs_wire_reader *r, uint64_t *out)
{
	const uint8_t *p;
	if (!take(r, 8, &p)) {
		*out = 0;
		return RS_ERANGE;
	}
	*out = rs_wire_load_u64(p);
	return 0;
}

int rs_wire_read_view(struct rs_wire_reader *r, size_t n, const uint8_t **out)
{
	return take(r, n, out) ? 0 : RS_ERANGE;
}

int rs_wire_read_bytes(struct rs_wire_reader *r, void *out, size_t n)
{
	const uint8_t *p;
	if (!take(r, n, &p)) {
		memset(out, 0, n);
		return RS_ERANGE;
	}
	if (n > 0) {
		memcpy(out, p, n);
	}
	return 0;
}

void rs_wire_writer_init(struct rs_wire_writer *w, void *data, size_t cap)
{
	w->data = data;
	w->cap = cap;
	w->len = 0;
	w->failed = false;
}

int rs_wire_writer_error(const struct rs_wire_writer *w)
{
	return w->failed ? RS_ERANGE : 0;
}

/* Point *p at room for @p n more bytes (the caller fills them) and count
 * them written; false (and failed) when there is none. */
static bool put(struct rs_wire_writer *w, size_t n, uint8_t **p)
{
	if (w->failed || n > w->cap - w->len) {
		w->failed = true;
		return false;
	}
	*p = w->data != NULL ? w->data + w->len : NULL;
	w->len += n;
	return true;
}

int rs_wire_write_u8(struct rs_wire_writer *w, uint8_t v)
{
	uint8_t *p;
	if (!put(w, 1, &p)) {
		return RS_ERANGE;
	}
	p[0] = v;
	return 0;
}

int rs_wire_write_u16(struct rs_wire_writer *w, uint16_t v)
{
	uint8_t *p;
	if (!put(w, 2, &p)) {
		return RS_ERANGE;
	}
	rs_wire_store_u16(p, v);
	return 0;
}

int rs_wire_write_u32(struct rs_wire_writer *w, uint32_t v)
{
	uint8_t *p;
	if (!put(w, 4, &p)) {
		return RS_ERANGE;
	}
	rs_wire_store_u32(p, v);
	return 0;
}

int rs_wire_write_u64(struct rs_wire_writer *w, uint64_t v)
{
	uint8_t *p;
	if (!put(w, 8, &p)) {
		return RS_ERANGE;
	}
	rs_wire_store_u64(p, v);
	return 0;
}

int rs_wire_write_bytes(struct rs_wire_writer *w, const void *src, size_t n)
{
	uint8_t *p;
	if (!put(w, n, &p)) {
		return RS_ERANGE;
	}
	if (n > 0) {
		memcpy(p, src, n);
	}
	return 0;
}
