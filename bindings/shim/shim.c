/* See shim.h: exported forwards to DPDK's static-inline fast-path functions, and the
 * CPU guard that runs before main. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

uint16_t qfp_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                          uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t qfp_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                          uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *qfp_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int qfp_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void qfp_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void qfp_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count)
{
	rte_pktmbuf_free_bulk(mbufs, count);
}

void *qfp_pktmbuf_mtod(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

char *qfp_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *qfp_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

char *qfp_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

int qfp_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

uint16_t qfp_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_headroom(m);
}

uint16_t qfp_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

uint16_t qfp_pktmbuf_data_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_data_len(m);
}

uint32_t qfp_pktmbuf_pkt_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_pkt_len(m);
}

uint16_t qfp_pktmbuf_nb_segs(const struct rte_mbuf *m)
{
	return m->nb_segs;
}

uint16_t qfp_pktmbuf_port(const struct rte_mbuf *m)
{
	return m->port;
}

int qfp_pktmbuf_rss_hash(const struct rte_mbuf *m, uint32_t *hash)
{
	if (!(m->ol_flags & RTE_MBUF_F_RX_RSS_HASH))
		return 0;
	*hash = m->hash.rss;
	return 1;
}

unsigned int qfp_lcore_id(void)
{
	return rte_lcore_id();
}

void qfp_pause(void)
{
	rte_pause();
}

uint64_t qfp_rdtsc(void)
{
	return rte_rdtsc();
}

void qfp_prefetch0(const void *p)
{
	rte_prefetch0(p);
}

int qfp_errno(void)
{
	return rte_errno;
}

/* ---- CPU guard --------------------------------------------------------------------- */

struct qfp_cpu_feature {
	const char *name;
	unsigned int leaf;
	char reg;          /* 'b', 'c' or 'd' */
	unsigned int bit;
	int needs_ymm;     /* AVX family: the OS must also save YMM state */
};

static const struct qfp_cpu_feature qfp_required[] = {
#ifdef QFP_NEED_SSE3
	{ "SSE3", 1, 'c', 0, 0 },
#endif
#ifdef QFP_NEED_SSSE3
	{ "SSSE3", 1, 'c', 9, 0 },
#endif
#ifdef QFP_NEED_SSE4_1
	{ "SSE4.1", 1, 'c', 19, 0 },
#endif
#ifdef QFP_NEED_SSE4_2
	{ "SSE4.2", 1, 'c', 20, 0 },
#endif
#ifdef QFP_NEED_POPCNT
	{ "POPCNT", 1, 'c', 23, 0 },
#endif
#ifdef QFP_NEED_AES
	{ "AES-NI", 1, 'c', 25, 0 },
#endif
#ifdef QFP_NEED_PCLMULQDQ
	{ "PCLMULQDQ", 1, 'c', 1, 0 },
#endif
#ifdef QFP_NEED_AVX
	{ "AVX", 1, 'c', 28, 1 },
#endif
#ifdef QFP_NEED_FMA
	{ "FMA", 1, 'c', 12, 1 },
#endif
#ifdef QFP_NEED_F16C
	{ "F16C", 1, 'c', 29, 1 },
#endif
#ifdef QFP_NEED_AVX2
	{ "AVX2", 7, 'b', 5, 1 },
#endif
#ifdef QFP_NEED_BMI1
	{ "BMI1", 7, 'b', 3, 0 },
#endif
#ifdef QFP_NEED_BMI2
	{ "BMI2", 7, 'b', 8, 0 },
#endif
#ifdef QFP_NEED_AVX512F
	{ "AVX512F", 7, 'b', 16, 1 },
#endif
#ifdef QFP_NEED_VAES
	{ "VAES", 7, 'c', 9, 1 },
#endif
#ifdef QFP_NEED_VPCLMULQDQ
	{ "VPCLMULQDQ", 7, 'c', 10, 1 },
#endif
	{ NULL, 0, 0, 0, 0 },
};

#define QFP_REQUIRED_COUNT (sizeof(qfp_required) / sizeof(qfp_required[0]) - 1)

/* The OS saves SSE and AVX (YMM) state on context switches: OSXSAVE and XCR0 bits 1-2. */
static int qfp_ymm_enabled(void)
{
	unsigned int a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6u) == 6u;
}

uint32_t qfp_cpu_missing(void)
{
	uint32_t missing = 0;
	int ymm = qfp_ymm_enabled();

	for (unsigned int i = 0; i < QFP_REQUIRED_COUNT; i++) {
		const struct qfp_cpu_feature *f = &qfp_required[i];
		unsigned int r[4] = { 0, 0, 0, 0 }; /* a b c d */
		int have;

		if (!__get_cpuid_count(f->leaf, 0, &r[0], &r[1], &r[2], &r[3])) {
			missing |= 1u << i;
			continue;
		}
		have = (r[f->reg - 'a'] >> f->bit) & 1u;
		if (!have || (f->needs_ymm && !ymm))
			missing |= 1u << i;
	}
	return missing;
}

unsigned int qfp_cpu_required_count(void)
{
	return QFP_REQUIRED_COUNT;
}

const char *qfp_cpu_required_name(unsigned int i)
{
	return i < QFP_REQUIRED_COUNT ? qfp_required[i].name : NULL;
}

static void qfp_put(const char *s)
{
	ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
	(void)ignored;
}

/* Priority 101: the earliest allowed to programs, before Rust's own start-up code. */
__attribute__((constructor(101))) static void qfp_cpu_guard(void)
{
	uint32_t missing = qfp_cpu_missing();
	int first = 1;

	if (!missing)
		return;
	qfp_put(program_invocation_short_name);
	qfp_put(": this CPU lacks");
	for (unsigned int i = 0; i < QFP_REQUIRED_COUNT; i++) {
		if (missing & (1u << i)) {
			qfp_put(first ? " " : ", ");
			qfp_put(qfp_required[i].name);
			first = 0;
		}
	}
	qfp_put(", which this build requires: it runs on x86-64 CPUs with AES-NI, PCLMULQDQ "
		"and AVX2 (Intel Haswell, AMD Zen or later)\n");
	_exit(1);
}
