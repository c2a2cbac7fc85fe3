#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "common/wire.h"

Test(wire, loads_and_stores_are_big_endian)
{
	uint8_t b[8];
	rs_wire_store_u16(b, 0x1234);
	cr_expect(memcmp(b, "\x12\x34", 2) == 0);
	cr_expect_eq(rs_wire_load_u16(b), 0x1234);
	rs_wire_store_u32(b, 0xdeadbeef);
	cr_expect(memcmp(b, "\xde\xad\xbe\xef", 4) == 0);
	cr_expect_eq(rs_wire_load_u32(b), 0xdeadbeef);
	rs_wire_store_u64(b, 0x0102030405060708ULL);
	cr_expect(memcmp(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
	cr_expect_eq(rs_wire_load_u64(b), 0x0102030405060708ULL);
	rs_wire_store_u64(b, UINT64_MAX);
	cr_expect_eq(rs_wire_load_u64(b), UINT64_MAX);
}

Test(wire, loads_at_any_alignment)
{
	uint8_t b[9] = {0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8};
	cr_expect_eq(rs_wire_load_u16(b + 1), 0xfffe);
	cr_expect_eq(rs_wire_load_u32(b + 1), 0xfffefdfc);
	cr_expect_eq(rs_wire_load_u64(b + 1), 0xfffefdfcfbfaf9f8ULL);
}

Test(wire, reader_reads_a_header_in_order)
{
	const uint8_t msg[] = {0xab, 0x01, 0x02, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 'h', 'i', '!'};
	struct rs_wire_reader r;
	rs_wire_reader_init(&r, msg, sizeof(msg));
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	char two[2];
	const uint8_t *rest;
	cr_expect_eq(rs_wire_read_u8(&r, &a), 0);
	cr_expect_eq(rs_wire_read_u16(&r, &b), 0);
	cr_expect_eq(rs_wire_read_u32(&r, &c), 0);
	cr_expect_eq(rs_wire_read_u64(&r, &d), 0);
	cr_expect_eq(rs_wire_read_bytes(&r, two, 2), 0);
	cr_expect_eq(rs_wire_reader_left(&r), 1);
	cr_expect_eq(rs_wire_read_view(&r, 1, &rest), 0);
	cr_expect_eq(rs_wire_reader_error(&r), 0);
	cr_expect_eq(a, 0xab);
	cr_expect_eq(b, 0x0102);
	cr_expect_eq(c, 7);
	cr_expect_eq(d, 9);
	cr_expect(memcmp(two, "hi", 2) == 0);
	cr_expect_eq(*rest, '!');
	cr_expect_eq(rs_wire_reader_left(&r), 0);
}

/* A read of @p what from a buffer of @p len bytes, after @p skip bytes. */
struct short_read {
	size_t len;
	size_t skip;
	int what; /* 1, 2, 4, 8: an integer of that size; 0: 3 bytes; -1: a view of 3 */
};

ParameterizedTestParameters(wire, reads_past_the_end_fail_and_stay_failed)
{
	static struct short_read cases[] = {
			{0, 0, 1},
			{1, 0, 2},
			{3, 0, 4},
			{7, 0, 8},
			{8, 1, 8},
			{5, 3, 4},
			{2, 0, 0},
			{2, 0, -1},
			{4, 2, 0},
			{4, 2, -1},
			{2, 2, 1},
	};
	return cr_make_param_array(struct short_read, cases, sizeof(cases) / sizeof(cases[0]));
}

static int read_one(struct rs_wire_reader *r, int what)
{
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	uint8_t three[3] = {1, 1, 1};
	const uint8_t *v = (const uint8_t *)"";
	int rc = 0;
	switch (what) {
	case 1:
		rc = rs_wire_read_u8(r, &a);
		cr_expect(rc == 0 || a == 0);
		break;
	case 2:
		rc = rs_wire_read_u16(r, &b);
		cr_expect(rc == 0 || b == 0);
		break;
	case 4:
		rc = rs_wire_read_u32(r, &c);
		cr_expect(rc == 0 || c == 0);
		break;
	case 8:
		rc = rs_wire_read_u64(r, &d);
		cr_expect(rc == 0 || d == 0);
		break;
	case 0:
		rc = rs_wire_read_bytes(r, three, 3);
		cr_expect(rc == 0 || (three[0] == 0 && three[2] == 0), "zeroed on failure");
		break;
	default:
		rc = rs_wire_read_view(r, 3, &v);
		cr_expect(rc == 0 || v == NULL);
		break;
	}
	return rc;
}

ParameterizedTest(struct short_read *c, wire, reads_past_the_end_fail_and_stay_failed)
{
	uint8_t data[16] = {0};
	struct rs_wire_reader r;
	rs_wire_reader_init(&r, data, c->len);
	const uint8_t *skipped;
	cr_assert_eq(rs_wire_read_view(&r, c->skip, &skipped), 0);
	cr_expect_eq(read_one(&r, c->what), RS_ERANGE);
	cr_expect_eq(r.off, c->skip, "the offset stays");
	cr_expect_eq(rs_wire_reader_error(&r), RS_ERANGE);
	cr_expect_eq(rs_wire_reader_left(&r), 0);
	uint8_t one;
	cr_expect_eq(rs_wire_read_u8(&r, &one), RS_ERANGE, "sticky, even for what would fit");
}

Test(wire, empty_reader_and_zero_length_reads)
{
	struct rs_wire_reader r;
	rs_wire_reader_init(&r, NULL, 0);
	const uint8_t *v;
	cr_expect_eq(rs_wire_read_view(&r, 0, &v), 0);
	cr_expect_eq(rs_wire_read_bytes(&r, NULL, 0), 0);
	cr_expect_eq(rs_wire_reader_error(&r), 0);
	uint16_t x;
	cr_expect_eq(rs_wire_read_u16(&r, &x), RS_ERANGE);
}

Test(wire, huge_view_length_does_not_wrap)
{
	uint8_t data[4] = {0};
	struct rs_wire_reader r;
	rs_wire_reader_init(&r, data, sizeof(data));
	uint8_t b;
	cr_assert_eq(rs_wire_read_u8(&r, &b), 0);
	const uint8_t *v;
	cr_expect_eq(rs_wire_read_view(&r, SIZE_MAX, &v), RS_ERANGE);
}

Test(wire, writer_writes_in_order_and_refuses_overflow)
{
	uint8_t out[15];
	struct rs_wire_writer w;
	rs_wire_writer_init(&w, out, sizeof(out));
	cr_expect_eq(rs_wire_write_u8(&w, 1), 0);
	cr_expect_eq(rs_wire_write_u16(&w, 0x0203), 0);
	cr_expect_eq(rs_wire_write_u32(&w, 0x04050607), 0);
	cr_expect_eq(rs_wire_write_u64(&w, 0x08090a0b0c0d0e0fULL), 0);
	cr_expect_eq(w.len, 15);
	cr_expect_eq(rs_wire_writer_error(&w), 0);
	for (int i = 0; i < 15; i++) {
		cr_expect_eq(out[i], i + 1);
	}
	cr_expect_eq(rs_wire_write_bytes(&w, "", 0), 0, "nothing always fits");
	cr_expect_eq(rs_wire_write_u8(&w, 9), RS_ERANGE);
	cr_expect_eq(w.len, 15);
	cr_expect_eq(rs_wire_writer_error(&w), RS_ERANGE);
	cr_expect_eq(rs_wire_write_bytes(&w, "", 0), RS_ERANGE, "sticky");
}

ParameterizedTestParameters(wire, a_write_that_does_not_fit_writes_nothing)
{
	static size_t room[] = {0, 1, 3, 7};
	return cr_make_param_array(size_t, room, sizeof(room) / sizeof(room[0]));
}

ParameterizedTest(size_t *room, wire, a_write_that_does_not_fit_writes_nothing)
{
	uint8_t out[8];
	memset(out, 0xee, sizeof(out));
	struct rs_wire_writer w;
	rs_wire_writer_init(&w, out, *room);
	int rc = *room < 2   ? rs_wire_write_u16(&w, 0)
		 : *room < 4 ? rs_wire_write_u32(&w, 0)
			     : rs_wire_write_u64(&w, 0);
	cr_expect_eq(rc, RS_ERANGE);
	cr_expect_eq(w.len, 0);
	for (size_t i = 0; i < sizeof(out); i++) {
		cr_expect_eq(out[i], 0xee);
	}
	cr_expect_eq(rs_wire_write_bytes(&w, "abcdefghi", 9), RS_ERANGE);
}
