/*
 * Building prepared RRsets with ldns: the only file of the engine that
 * includes <ldns/ldns.h>. An RRset is built when a lookup finds its entry
 * missing or out of date, never per query; ldns never sees a query byte.
 */
#include "server/dns/answer_internal.h"

#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/ring.h"
#include "common/wire.h"
#include "server/registry/store.h"

/* SOA timers of the services zone. Refresh and retry are short because the
 * zone changes every few seconds; expire is long (robustness-catalogue 4.8:
 * secondaries should keep answering through a partition). */
#define SOA_REFRESH ANSWER_SOA_REFRESH
#define SOA_RETRY ANSWER_SOA_RETRY
#define SOA_EXPIRE ANSWER_SOA_EXPIRE
/* The _ring TXT record is one RR; keep it well inside one TCP message. */
#define RING_RDATA_MAX 60000u
/* Offset of an SRV target in an RR body (type, class, TTL, RDLENGTH,
 * priority, weight, port). */
#define SRV_TARGET_OFF 16u
#define CLASS_IN 1u /* RFC 1035 3.2.4 */

/* Append to a prepared RRset's bodies. The buffer's failure is sticky; an
 * entry whose build failed is freed or cleared before it is built again. */
static int bytes_put(struct rs_buf *b, const void *p, size_t n)
{
	rs_buf_add(b, p, n);
	return rs_buf_error(b);
}

void answer_build_clear(struct answer_prep *p)
{
	free(p->rr);
	rs_buf_deinit(&p->data);
	p->rr = NULL;
	p->n = p->cap = 0;
	p->total = 0;
	p->stale = false;
	p->ring_in = p->ring_of = 0;
	p->ring_shards = 0;
}

/*
 * Append the wire form of an RR built from @p rdfs to @p b, without an owner
 * (the owner is written per query, compressed). Takes ownership of the rdfs,
 * also on failure. ldns writes names in RDATA uncompressed here: no
 * compression table is passed, which is what RFC 2782 wants for SRV targets.
 */
static int rr_append(struct rs_buf *b, ldns_rr_type type, uint32_t ttl, ldns_rdf **rdfs, size_t n)
{
	int rc = RS_ENOMEM;
	ldns_buffer *buf = NULL;
	ldns_rr *rr = ldns_rr_new();
	for (size_t i = 0; i < n; i++) {
		if (rr == NULL || rdfs[i] == NULL || !ldns_rr_push_rdf(rr, rdfs[i])) {
			for (size_t j = i; j < n; j++) {
				ldns_rdf_deep_free(rdfs[j]);
			}
			goto out;
		}
	}
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, ttl);
	buf = ldns_buffer_new(512);
	if (buf == NULL || ldns_rr2buffer_wire(buf, rr, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
		goto out;
	}
	rc = bytes_put(b, ldns_buffer_begin(buf), ldns_buffer_position(buf));
out:
	ldns_buffer_free(buf);
	ldns_rr_free(rr);
	return rc;
}

/* The same bytes as rr_append() for an RR whose RDATA is @p rd1 then @p rd2
 * (either may be empty), written directly. SRV, A and AAAA are rebuilt on
 * the loop thread after every registration that touches their service, so
 * their cost is a query's wait: through ldns an SRV costs four allocated
 * rdfs, an RR and a buffer; here it is one reserve and a few stores.
 * @return 0, or RS_ENOMEM (nothing appended). */
static int rr_put(struct rs_buf *b, uint16_t type, uint32_t ttl, const void *rd1, size_t n1,
		const void *rd2, size_t n2)
{
	if (!rs_buf_reserve(b, 10 + n1 + n2)) {
		return RS_ENOMEM;
	}
	uint8_t *w = (uint8_t *)b->data + b->len;
	rs_wire_store_u16(w, type);
	rs_wire_store_u16(w + 2, CLASS_IN);
	rs_wire_store_u32(w + 4, ttl);
	rs_wire_store_u16(w + 8, (uint16_t)(n1 + n2));
	if (n1 > 0) {
		memcpy(w + 10, rd1, n1);
	}
	if (n2 > 0) {
		memcpy(w + 10 + n1, rd2, n2);
	}
	b->len += 10 + n1 + n2;
	return 0;
}

/* An A or AAAA RR of @p ad. */
static int rr_put_addr(struct rs_buf *b, uint32_t ttl, const struct rs_addr *ad)
{
	bool v4 = ad->family == AF_INET;
	return rr_put(b, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, ttl, ad->bytes, v4 ? 4 : 16, NULL,
			0);
}

static ldns_rdf *rdf_dname(const uint8_t *wire, size_t len)
{
	return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len, wire);
}

/* Start an RR in @p p; its body is what rr_append() adds next. */
static int prep_rr_add(struct answer_prep *p, size_t off, double weight)
{
	if (RS_ARRAY_GROW(p->rr, p->cap, (size_t)p->n + 1) < 0) {
		return RS_ENOMEM;
	}
	size_t len = p->data.len - off;
	if (len > UINT16_MAX) {
		return RS_ERANGE;
	}
	p->rr[p->n++] = (struct answer_prep_rr){.off = (uint32_t)off,
			.len = (uint16_t)len,
			.weight = weight > 0 ? weight : 1.0 / 64};
	p->total += 2 + len;
	return 0;
}

static int prep_finish(struct answer *a, struct answer_prep *p)
{
	p->uniform = true;
	for (uint32_t i = 1; i < p->n; i++) {
		if (p->rr[i].weight != p->rr[0].weight) {
			p->uniform = false;
		}
	}
	int rc = answer_pick_reserve(a, p->n);
	if (rc != 0) {
		return rc;
	}
	a->counters.rebuilds++;
	return 0;
}

int answer_build_soa(struct answer *a, struct answer_zone *z, uint64_t revision)
{
	answer_build_clear(&z->soa);
	/* RFC 1982 serial arithmetic: the low 32 bits of the revision. */
	ldns_rdf *r[7] = {
			rdf_dname(a->mname, a->mname_len),
			rdf_dname(a->rname, a->rname_len),
			ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, (uint32_t)revision),
			ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, SOA_REFRESH),
			ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, SOA_RETRY),
			ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, SOA_EXPIRE),
			ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, z->neg_ttl),
	};
	int rc = rr_append(
			&z->soa.data, LDNS_RR_TYPE_SOA, answer_soa_ttl(a->ttl, z->neg_ttl), r, 7);
	if (rc == 0) {
		rc = prep_rr_add(&z->soa, 0, 1);
	}
	z->soa.tag_rev = revision;
	z->soa_built = rc == 0;
	return rc;
}

int answer_build_ns(struct answer *a, struct answer_zone *z, const char *const *ns, size_t nns)
{
	for (size_t i = 0; i < nns; i++) {
		uint8_t w[RS_NAME_WIRE_MAX];
		int wl = rs_name_to_wire(ns[i], RS_NAME_NUMERIC_TOP, w);
		if (wl < 0) {
			return RS_EINVAL;
		}
		size_t off = z->ns.data.len;
		ldns_rdf *r = rdf_dname(w, (size_t)wl);
		int rc = rr_append(&z->ns.data, LDNS_RR_TYPE_NS, a->ttl, &r, 1);
		if (rc == 0) {
			rc = prep_rr_add(&z->ns, off, 1);
		}
		if (rc != 0) {
			return rc;
		}
	}
	return prep_finish(a, &z->ns);
}

/* Is this instance served? STARTING and DOWN are not (SPEC DNS). */
static bool served(const struct store_instance *i)
{
	return i->status == STORE_STATUS_UP;
}

static bool same_host(const struct store_instance *a, const struct store_instance *b)
{
	return a->host_hash == b->host_hash && a->host_len == b->host_len &&
	       memcmp(a->host, b->host, a->host_len) == 0;
}

/*
 * Reorder @p up (@p n instances) so that the instances of one host are
 * adjacent, hosts in the order of their first instance, in O(n): a
 * rebuild runs on the query path, once per change of a busy service, and
 * a sort by name (n log n string compares) was half of it for services of
 * hundreds of instances. @p scratch holds cap + 2 * n uint32_t (cap a
 * power of two >= 2 * n, so that the probe always ends), then n pointers
 * (the offset is even: they are aligned as @p up is).
 */
static void group_by_host(
		const struct store_instance **up, uint32_t n, uint32_t *scratch, uint32_t cap)
{
	const uint32_t none = UINT32_MAX;
	uint32_t *head = scratch;    /* [cap]: a host's first instance */
	uint32_t *next = head + cap; /* [n]: the same host's next instance */
	uint32_t *tail = next + n;   /* [n]: a first instance's host's last one */
	const struct store_instance **out = (const struct store_instance **)(tail + n);
	for (uint32_t k = 0; k < cap; k++) {
		head[k] = none;
	}
	for (uint32_t k = 0; k < n; k++) {
		next[k] = none;
		uint32_t slot = up[k]->host_hash & (cap - 1);
		while (head[slot] != none && !same_host(up[head[slot]], up[k])) {
			slot = (slot + 1) & (cap - 1);
		}
		if (head[slot] == none) {
			head[slot] = k;
			tail[k] = k;
		} else {
			uint32_t first = head[slot];
			next[tail[first]] = k;
			tail[first] = k;
			tail[k] = none; /* not a first instance */
		}
	}
	uint32_t w = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (tail[k] == none) {
			continue; /* emitted with its host's first */
		}
		for (uint32_t j = k; j != none; j = next[j]) {
			out[w++] = up[j];
		}
	}
	memcpy(up, out, n * sizeof(*up));
}

/* A host's addresses in the additional section at most: past this many, a
 * UDP answer has no room for them anyway, and a TCP one need not carry
 * them all. */
#define HOST_ADDRS_MAX 32

/*
 * The A/AAAA of one SRV target: the union of the addresses of its served
 * instances (@p same, the first @p n of which may be of this host, grouped
 * by group_by_host()), each once, in the order first registered. Each
 * instance's own set would leave out an address or a family another
 * instance of the host registered (a multi-homed host registered per port).
 */
static int put_host_addrs(struct answer *a, struct answer_prep *p,
		const struct store_instance *const *same, uint32_t n)
{
	struct rs_addr seen[HOST_ADDRS_MAX];
	size_t nseen = 0;
	int rc = 0;
	for (uint32_t h = 0; h < n && same_host(same[h], same[0]) && rc == 0; h++) {
		for (uint8_t j = 0; j < same[h]->naddrs && nseen < HOST_ADDRS_MAX && rc == 0; j++) {
			const struct rs_addr *ad = &same[h]->addrs[j];
			size_t i = 0;
			while (i < nseen && rs_addr_cmp(&seen[i], ad) != 0) {
				i++;
			}
			if (i == nseen) {
				seen[nseen++] = *ad;
				rc = rr_put_addr(&p->data, a->ttl, ad);
			}
		}
	}
	return rc;
}

static int build_srv(struct answer *a, struct answer_prep *p, const struct store_service *svc)
{
	uint32_t n = 0;
	uint32_t cap = 2;
	while (cap < 2 * (svc->ninstances + 1)) {
		cap *= 2;
	}
	/* up[ninstances + 1], then group_by_host()'s scratch. */
	size_t nptr = svc->ninstances + 1;
	size_t bytes = nptr * sizeof(struct store_instance *) +
		       (2 * nptr + cap) * sizeof(uint32_t) + nptr * sizeof(struct store_instance *);
	const struct store_instance **up = malloc(bytes);
	if (up == NULL) {
		return RS_ENOMEM;
	}
	for (uint32_t i = 0; i < svc->ninstances; i++) {
		if (served(svc->instances[i])) {
			up[n++] = svc->instances[i];
		}
	}
	/* Grouped by host so that each target's addresses go into the additional
	 * section once, attached to the first SRV of that host. */
	group_by_host(up, n, (uint32_t *)(up + nptr), cap);
	int rc = 0;
	for (uint32_t k = 0; k < n && rc == 0; k++) {
		const struct store_instance *in = up[k];
		size_t off = p->data.len;
		uint8_t fixed[6]; /* RFC 2782: priority, weight, port; the target follows */
		rs_wire_store_u16(fixed, in->priority);
		rs_wire_store_u16(fixed + 2, in->weight);
		rs_wire_store_u16(fixed + 4, in->port);
		rc = rr_put(&p->data, LDNS_RR_TYPE_SRV, a->ttl, fixed, sizeof(fixed), in->host_wire,
				in->host_wire_len);
		if (rc == 0) {
			rc = prep_rr_add(p, off, in->weight);
		}
		if (rc != 0) {
			break;
		}
		struct answer_prep_rr *rr = &p->rr[p->n - 1];
		rr->target = SRV_TARGET_OFF;
		rr->target_len = in->host_wire_len;
		p->stale |= in->stale != 0;
		if (k > 0 && same_host(up[k - 1], in)) {
			continue;
		}
		size_t add = p->data.len;
		rc = rc == 0 ? put_host_addrs(a, p, up + k, n - k) : rc;
		rr = &p->rr[p->n - 1]; /* unchanged by rr_put_addr, but be explicit */
		rr->add_off = (uint32_t)add;
		rr->add_len = (uint32_t)(p->data.len - add);
	}
	free(up);
	p->shuffle = true;
	return rc;
}

struct addr_weight {
	struct rs_addr addr;
	double weight;
	bool stale;
};

static int cmp_addr_weight(const void *x, const void *y)
{
	return rs_addr_cmp(&((const struct addr_weight *)x)->addr,
			&((const struct addr_weight *)y)->addr);
}

/* A/AAAA of every UP instance of every protocol of the name, deduplicated;
 * an address shared by several instances weighs their sum. */
static int build_addr(struct answer *a, struct answer_prep *p, const struct store_service *first,
		int family)
{
	size_t cap = 0, n = 0;
	for (const struct store_service *s = first; s != NULL; s = s->name_next) {
		for (uint32_t i = 0; i < s->ninstances; i++) {
			cap += s->instances[i]->naddrs;
		}
	}
	struct addr_weight *v = malloc((cap + 1) * sizeof(*v));
	if (v == NULL) {
		return RS_ENOMEM;
	}
	for (const struct store_service *s = first; s != NULL; s = s->name_next) {
		for (uint32_t i = 0; i < s->ninstances; i++) {
			const struct store_instance *in = s->instances[i];
			if (!served(in)) {
				continue;
			}
			for (uint8_t j = 0; j < in->naddrs; j++) {
				if (in->addrs[j].family == family) {
					double w = in->weight ? in->weight : 1.0 / 64;
					bool stale = in->stale != 0;
					v[n++] = (struct addr_weight){in->addrs[j], w, stale};
				}
			}
		}
	}
	qsort(v, n, sizeof(*v), cmp_addr_weight);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		double w = v[i].weight;
		bool stale = v[i].stale;
		while (i + 1 < n && rs_addr_cmp(&v[i].addr, &v[i + 1].addr) == 0) {
			i++;
			w += v[i].weight;
			stale |= v[i].stale;
		}
		size_t off = p->data.len;
		rc = rr_put_addr(&p->data, a->ttl, &v[i].addr);
		if (rc == 0) {
			rc = prep_rr_add(p, off, w);
		}
		p->stale |= stale;
	}
	free(v);
	p->shuffle = true;
	p->weighted = true;
	return rc;
}

struct ring_point {
	uint32_t token;
	uint16_t port;
	const struct store_instance *in;
};

/* Token order; equal tokens by host, then port (common/ring.h defines
 * tokens and that order). */
static int cmp_ring_point(const void *x, const void *y)
{
	const struct ring_point *a = x, *b = y;
	if (a->token != b->token) {
		return a->token < b->token ? -1 : 1;
	}
	int c = strcmp(a->in->host, b->in->host);
	return c ? c : (a->port > b->port) - (a->port < b->port);
}

/* The octets an instance's strings take in the ring's RDATA; 0 when its
 * string would not be a character-string (a host name near 253 octets). */
static size_t ring_instance_len(const struct store_instance *in)
{
	char port[8];
	int plen = snprintf(port, sizeof(port), "%u", in->port);
	/* Per string: "%08x", space, host, space, port. */
	size_t len = 8u + 1u + strlen(in->host) + 1u + (size_t)plen;
	return len > 255 ? 0 : RS_RING_VNODES * (1u + len);
}

/* The ring's strings, already sorted, as one TXT RR appended to @p p. The
 * strings go straight into the RDATA: ldns is not needed for them. */
static int ring_write(
		struct answer *a, struct answer_prep *p, const struct ring_point *pts, size_t n)
{
	size_t off = p->data.len;
	uint8_t head[10] = {0, DNSWIRE_TXT, 0, 1};
	rs_wire_store_u32(head + 4, a->ttl);
	int rc = bytes_put(&p->data, head, sizeof(head));
	size_t rdlen = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char s[300];
		int len = snprintf(s + 1, sizeof(s) - 1, "%08x %s %u", pts[i].token,
				pts[i].in->host, pts[i].port);
		s[0] = (char)len; /* <= 255: ring_instance_len() said so */
		rc = bytes_put(&p->data, s, (size_t)len + 1);
		rdlen += (size_t)len + 1;
	}
	if (rc == 0) {
		dnswire_set16((uint8_t *)p->data.data + off + 8, (uint16_t)rdlen);
		rc = prep_rr_add(p, off, 1);
	}
	return rc;
}

/* The shard of an instance: its vnode-0 token modulo the shard count, from
 * 1. The token is a hash of (host, port), so an instance's shard changes
 * only when the count does, as zonegen shards a role's hosts. */
static uint32_t ring_shard_of(const struct ring_point *in, uint32_t nshards)
{
	return in->token % nshards + 1;
}

/* The fewest shards, from an 80 % fill upwards, in which no shard's strings
 * pass RING_RDATA_MAX: deterministic for a set of instances, so every reader
 * and every secondary sees the same split. The search ends: at the latest
 * where shards outnumber instances several times over (a shard then holds a
 * handful of instances of at most 2 KB each). */
static int ring_shard_count(const struct ring_point *ins, size_t nin, size_t bytes, uint32_t *out)
{
	const size_t fill = RING_RDATA_MAX / 10 * 8;
	uint32_t n = (uint32_t)((bytes + fill - 1) / fill);
	for (;; n++) {
		size_t *sum = calloc(n, sizeof(*sum));
		if (sum == NULL) {
			return RS_ENOMEM;
		}
		bool fits = true;
		for (size_t i = 0; i < nin && fits; i++) {
			size_t *b = &sum[ring_shard_of(&ins[i], n) - 1];
			*b += ring_instance_len(ins[i].in);
			fits = *b <= RING_RDATA_MAX;
		}
		free(sum);
		if (fits || n > 4 * nin) {
			break;
		}
	}
	*out = n;
	return 0;
}

/* "shards=N": what the ring's own name holds when the ring is sharded. */
static int ring_write_head(struct answer *a, struct answer_prep *p, uint32_t nshards)
{
	size_t off = p->data.len;
	uint8_t rr[10 + 1 + 16] = {0, DNSWIRE_TXT, 0, 1};
	rs_wire_store_u32(rr + 4, a->ttl);
	int len = snprintf((char *)rr + 11, sizeof(rr) - 11, "shards=%u", nshards);
	rr[10] = (uint8_t)len;
	dnswire_set16(rr + 8, (uint16_t)(len + 1));
	int rc = bytes_put(&p->data, rr, 11 + (size_t)len);
	return rc == 0 ? prep_rr_add(p, off, 1) : rc;
}

/*
 * The ring of a service: one string per virtual node, in token order, in one
 * TXT record, the same for every reader and never a part of the ring. A ring
 * whose strings pass one record (about 150 instances with fleet-style host
 * names) is sharded by instance: the ring's own name holds "shards=N", and
 * <k>._ring._<svc>._<proto> (k = 1..N) the points of the instances of shard
 * k, in token order; the ring is the union. Which name this entry is comes
 * in p->tag_n (0: the ring's own name). Only an instance whose strings
 * cannot be character-strings (a host name near 253 octets) is left out,
 * and the answer says so.
 */
static int build_ring(struct answer *a, struct answer_prep *p, const struct store_service *svc)
{
	size_t nin = 0;
	struct ring_point *ins = malloc(((size_t)svc->ninstances + 1) * sizeof(*ins));
	size_t npts = (size_t)svc->ninstances * RS_RING_VNODES + 1;
	struct ring_point *pts = malloc(npts * sizeof(*pts));
	if (ins == NULL || pts == NULL) {
		free(ins);
		free(pts);
		return RS_ENOMEM;
	}
	size_t bytes = 0;
	for (uint32_t i = 0; i < svc->ninstances; i++) {
		const struct store_instance *in = svc->instances[i];
		if (!served(in)) {
			continue;
		}
		p->ring_of++;
		size_t len = ring_instance_len(in);
		if (len > 0) {
			uint32_t token = rs_ring_token(in->host, in->port, 0);
			ins[nin++] = (struct ring_point){token, in->port, in};
			bytes += len;
		}
	}
	p->ring_in = (uint32_t)nin;
	uint32_t nshards = 1;
	int rc = bytes > RING_RDATA_MAX ? ring_shard_count(ins, nin, bytes, &nshards) : 0;
	p->ring_shards = nshards > 1 ? nshards : 0;
	uint64_t want = p->tag_n;
	if (rc != 0 || (want == 0 && nshards > 1)) {
		rc = rc != 0 ? rc : ring_write_head(a, p, nshards);
		goto out;
	}
	if (want > p->ring_shards) {
		goto out; /* (want != 0) no such shard: empty */
	}
	size_t n = 0;
	for (size_t i = 0; i < nin; i++) {
		const struct store_instance *in = ins[i].in;
		if (want != 0 && ring_shard_of(&ins[i], nshards) != want) {
			continue;
		}
		p->stale |= in->stale != 0;
		for (unsigned v = 0; v < RS_RING_VNODES; v++) {
			uint32_t token = rs_ring_token(in->host, in->port, v);
			pts[n++] = (struct ring_point){token, in->port, in};
		}
	}
	if (n > 0) {
		qsort(pts, n, sizeof(*pts), cmp_ring_point);
		rc = ring_write(a, p, pts, n);
	}
out:
	free(ins);
	free(pts);
	return rc;
}

int answer_build_rrset(struct answer *a, struct answer_prep *p, enum answer_prep_kind kind,
		const struct store_service *svc)
{
	int rc;
	switch (kind) {
	case ANSWER_PREP_SRV:
		rc = build_srv(a, p, svc);
		break;
	case ANSWER_PREP_ADDR:
		rc = build_addr(a, p, svc, p->qtype == DNSWIRE_A ? AF_INET : AF_INET6);
		break;
	default:
		rc = build_ring(a, p, svc);
		break;
	}
	if (rc == 0) {
		rc = prep_finish(a, p);
	}
	return rc;
}
