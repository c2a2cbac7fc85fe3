#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <ldns/ldns.h>
#include <string.h>

#include "zonegen/notify.h"

/* The packet is checked by parsing it back with ldns: an independent reader. */
Test(notify, packet_is_a_notify_with_the_soa_hint)
{
	struct zg_notify_soa soa = {.zone = "ash2.example.net.",
			.mname = "ns1.example.net.",
			.rname = "hostmaster.example.net.",
			.ttl = 3600,
			.serial = 2026112601,
			.refresh = 3600,
			.retry = 600,
			.expire = 1209600,
			.minimum = 300};
	uint8_t msg[1024];
	int len = zg_notify_build(&soa, 0x1234, msg, sizeof(msg));
	cr_assert_gt(len, 12);
	ldns_pkt *pkt = NULL;
	cr_assert_eq(ldns_wire2pkt(&pkt, msg, (size_t)len), LDNS_STATUS_OK);
	cr_expect_eq(ldns_pkt_id(pkt), 0x1234);
	cr_expect_eq(ldns_pkt_get_opcode(pkt), LDNS_PACKET_NOTIFY);
	cr_expect(ldns_pkt_aa(pkt));
	cr_expect(!ldns_pkt_qr(pkt));
	cr_assert_eq(ldns_pkt_qdcount(pkt), 1);
	cr_assert_eq(ldns_pkt_ancount(pkt), 1);
	ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	char *qn = ldns_rdf2str(ldns_rr_owner(q));
	cr_expect_str_eq(qn, "ash2.example.net.");
	cr_expect_eq(ldns_rr_get_type(q), LDNS_RR_TYPE_SOA);
	ldns_rr *a = ldns_rr_list_rr(ldns_pkt_answer(pkt), 0);
	cr_expect_eq(ldns_rr_get_type(a), LDNS_RR_TYPE_SOA);
	cr_expect_eq(ldns_rdf2native_int32(ldns_rr_rdf(a, 2)), 2026112601u);
	char *mn = ldns_rdf2str(ldns_rr_rdf(a, 0));
	cr_expect_str_eq(mn, "ns1.example.net.");
	free(qn);
	free(mn);
	ldns_pkt_free(pkt);
}

Test(notify, bad_zone_name_and_small_buffer_refused)
{
	struct zg_notify_soa soa = {
			.zone = "a..b.", .mname = "ns1.example.net.", .rname = "h.example.net."};
	uint8_t msg[1024];
	cr_expect_lt(zg_notify_build(&soa, 1, msg, sizeof(msg)), 0);
	soa.zone = "example.net.";
	cr_expect_lt(zg_notify_build(&soa, 1, msg, 20), 0);
}

Test(notify, silent_target_gives_no_answer_in_bounded_time)
{
	/* a bound UDP socket that never answers */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t sl = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	struct sockaddr_storage to;
	memset(&to, 0, sizeof(to));
	memcpy(&to, &sin, sizeof(sin));
	struct zg_notify_soa soa = {.zone = "example.net.",
			.mname = "ns1.example.net.",
			.rname = "h.example.net.",
			.serial = 1};
	int rcode = 99;
	cr_assert_eq(zg_notify_send(&soa, 1, &to, 1, &rcode), 0);
	cr_expect_eq(rcode, -1);
	uint8_t buf[512];
	ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	cr_expect_gt(r, 12, "the NOTIFY reached the socket");
	close(fd);
}
