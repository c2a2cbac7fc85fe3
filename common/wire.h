/*
 * common/wire.h - big-endian (network order) integers in byte buffers: DNS
 * messages, API frame prefixes, on-disk records.
 *
 * Owns: the loads and stores of 16, 32 and 64-bit unsigned integers at a
 * byte address (any alignment), and two cursors over a buffer of known
 * length: a reader whose every read is bounds-checked, and a writer whose
 * every write is. Both cursors fail stickily: after the first read or write
 * that does not fit, every later one fails too and writes nothing, so a
 * parser can read a whole header and check once at the end.
 *
 * Must not: interpret what it reads (names, records, frames are their
 * modules' business), allocate, or do I/O. Never assert on the bytes: they
 * come from the network and from disk.
 *
 * Threads: pure; a cursor belongs to one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The big-endian 16-bit integer at @p p (2 readable bytes). */
static inline uint16_t rs_wire_load_u16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/** The big-endian 32-bit integer at @p p (4 readable bytes). */
static inline uint32_t rs_wire_load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/** The big-endian 64-bit integer at @p p (8 readable bytes). */
static inline uint64_t rs_wire_load_u64(const uint8_t *p)
{
	return (uint64_t)rs_wire_load_u32(p) << 32 | rs_wire_load_u32(p + 4);
}

/** Store @p v big-endian at @p p (2 writable bytes). */
static inline void rs_wire_store_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/** Store @p v big-endian at @p p (4 writable bytes). */
static inline void rs_wire_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/** Store @p v big-endian at @p p (8 writable bytes). */
static inline void rs_wire_store_u64(uint8_t *p, uint64_t v)
{
	rs_wire_store_u32(p, (uint32_t)(v >> 32));
	rs_wire_store_u32(p + 4, (uint32_t)v);
}

/** A bounds-checked read cursor over borrowed bytes. */
struct rs_wire_reader {
	const uint8_t *data; /**< borrowed; must outlive the reader */
	size_t len;
	size_t off;  /**< the next byte to read */
	bool failed; /**< a read went past the end (sticky) */
};

/** Start reading @p len bytes at @p data. */
void rs_wire_reader_init(struct rs_wire_reader *r, const void *data, size_t len);

/** Bytes left to read; 0 once failed. */
size_t rs_wire_reader_left(const struct rs_wire_reader *r);

/**
 * Read one integer and advance. When it does not fit, the reader fails for
 * good, @p out is set to 0 and the offset stays where it was. The failure
 * is sticky: a parser may read several fields and check once with
 * rs_wire_reader_error().
 * @return 0, or RS_ERANGE (past the end, or failed before).
 */
int rs_wire_read_u8(struct rs_wire_reader *r, uint8_t *out);
/** As rs_wire_read_u8(), 16 bits. */
int rs_wire_read_u16(struct rs_wire_reader *r, uint16_t *out);
/** As rs_wire_read_u8(), 32 bits. */
int rs_wire_read_u32(struct rs_wire_reader *r, uint32_t *out);
/** As rs_wire_read_u8(), 64 bits. */
int rs_wire_read_u64(struct rs_wire_reader *r, uint64_t *out);

/**
 * A view of the next @p n bytes, and advance past them.
 * @param out set to the bytes (a view into the reader's data, valid as long
 *        as that is), or NULL when they do not fit.
 * @return 0, or RS_ERANGE (the reader fails).
 */
int rs_wire_read_view(struct rs_wire_reader *r, size_t n, const uint8_t **out);

/** Copy the next @p n bytes to @p out and advance; zeroes @p out when they
 * do not fit. @return 0 or RS_ERANGE (the reader fails). */
int rs_wire_read_bytes(struct rs_wire_reader *r, void *out, size_t n);

/** @return 0, or RS_ERANGE if any read failed since rs_wire_reader_init(). */
__attribute__((warn_unused_result)) int rs_wire_reader_error(const struct rs_wire_reader *r);

/** A bounds-checked write cursor over caller's storage. */
struct rs_wire_writer {
	uint8_t *data; /**< caller's storage of cap bytes */
	size_t cap;
	size_t len;  /**< bytes written */
	bool failed; /**< a write did not fit (sticky) */
};

/** Start writing into @p cap bytes at @p data. */
void rs_wire_writer_init(struct rs_wire_writer *w, void *data, size_t cap);

/**
 * Append one integer or @p n bytes. A write that does not fit writes nothing
 * and fails the writer for good (sticky: check once with
 * rs_wire_writer_error()).
 * @return 0, or RS_ERANGE (no room, or failed before).
 */
int rs_wire_write_u8(struct rs_wire_writer *w, uint8_t v);
/** As rs_wire_write_u8(), 16 bits. */
int rs_wire_write_u16(struct rs_wire_writer *w, uint16_t v);
/** As rs_wire_write_u8(), 32 bits. */
int rs_wire_write_u32(struct rs_wire_writer *w, uint32_t v);
/** As rs_wire_write_u8(), 64 bits. */
int rs_wire_write_u64(struct rs_wire_writer *w, uint64_t v);
/** As rs_wire_write_u8(), @p n bytes from @p p. */
int rs_wire_write_bytes(struct rs_wire_writer *w, const void *p, size_t n);

/** @return 0, or RS_ERANGE if any write failed since rs_wire_writer_init(). */
__attribute__((warn_unused_result)) int rs_wire_writer_error(const struct rs_wire_writer *w);
