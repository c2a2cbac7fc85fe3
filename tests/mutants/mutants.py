"""tests/mutants/mutants.py - the mutants of the standing mutation check.

Each mutant: id; find, a text that occurs exactly once in the product code
(its file is found by the text, so moving code between files does not
break a mutant, changing the line does: run.py says STALE then); replace,
the bug; tests, the meson tests that should kill it (names as `meson test
--list` prints them); what, the bug in words. `equivalent`, when set, says
why a survivor cannot be told apart from the original by any test.
"""

MUTANTS = [
    # ---- server/dns/dnswire.c: the query parser ---------------------------------
    dict(id="dnswire_hops_plus_one",
         find="++hops > DNSWIRE_MAX_HOPS",
         replace="++hops > DNSWIRE_MAX_HOPS + 1",
         tests=["server/answer", "server/dnsio"],
         what="the pointer-hop limit one too high (17 hops answered)"),
    dict(id="dnswire_pointer_forward",
         find="target < DNSWIRE_HEADER || target >= pos",
         replace="target < DNSWIRE_HEADER || target >= len",
         tests=["server/answer", "server/dnsio"],
         what="a compression pointer forwards (RFC 1035 4.1.4: a prior occurrence) followed"),
    dict(id="dnswire_ext_labels",
         find="return -1; /* 0x40/0x80: extended and reserved label types */",
         replace="c &= 0x3f; /* mutant */",
         tests=["server/answer", "server/dnsio"],
         what="extended label types (0x40/0x80) accepted in additional owners"),
    dict(id="dnswire_cookie_size",
         find="olen != 8 && (olen < 16 || olen > 40)",
         replace="olen != 8 && (olen < 16 || olen > 41)",
         tests=["server/answer", "server/cookie", "server/dnsio"],
         what="a 41-octet COOKIE option accepted (RFC 7873: 8, or 16 to 40)"),
    dict(id="dnswire_dup_option",
         find="return false; /* CVE-2016-2088: duplicated known option */",
         replace="(void)0; /* mutant */",
         tests=["server/answer", "server/dnsio"],
         what="a duplicated EDNS option accepted (CVE-2016-2088)"),
    dict(id="dnswire_two_opt",
         find="bad = true; /* RFC 6891 6.1.1: more than one OPT */",
         replace="(void)0; /* mutant */",
         tests=["server/answer", "server/dnsio"],
         what="two OPT records accepted (RFC 6891 6.1.1)"),
    dict(id="dnswire_tsig_last",
         find="bad = true; /* RFC 8945 5.1: TSIG must be the last record */",
         replace="(void)0; /* mutant */",
         tests=["server/answer", "server/dnsio"],
         what="a record after TSIG accepted (RFC 8945 5.1)"),
    dict(id="dnswire_meta_qtype",
         find="q->qtype == DNSWIRE_OPT || q->qtype == DNSWIRE_TSIG",
         replace="q->qtype == DNSWIRE_TSIG",
         tests=["server/answer", "server/dnsio"],
         what="QTYPE OPT answered instead of FORMERR (RFC 6891)"),
    dict(id="dnswire_qr_query",
         find="if (q->flags & DNSWIRE_QR) {",
         replace="if (0) {",
         tests=["server/answer", "server/dnsio"],
         what="a response (QR=1) treated as a query: reflection loops between servers"),
]
