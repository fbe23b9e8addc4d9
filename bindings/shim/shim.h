/*
 * qfp shim over DPDK 22.11: the headers bindgen reads, and exported wrappers for the
 * static-inline fast-path functions that bindgen cannot bind (rx/tx burst, mbuf
 * alloc/free and data-pointer arithmetic, lcore id, pause, TSC, prefetch, rte_errno).
 *
 * Every wrapper is a one-line forward to the inline DPDK function of the same name with
 * a `qfp_` prefix; the C compiler inlines DPDK's body into it, so a Rust call costs one
 * direct call. Compiled with the full `pkg-config --cflags libdpdk` (incl. -march).
 */
#ifndef QFP_SHIM_H
#define QFP_SHIM_H

#include <stdint.h>

#include <rte_config.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_version.h>
#include <rte_telemetry.h>
#include <rte_alarm.h>
#include <rte_interrupts.h>

/* Ethernet device fast path. */
uint16_t qfp_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                          uint16_t nb_pkts);
uint16_t qfp_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                          uint16_t nb_pkts);

/* Packet mbufs. */
struct rte_mbuf *qfp_pktmbuf_alloc(struct rte_mempool *mp);
int qfp_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int count);
void qfp_pktmbuf_free(struct rte_mbuf *m);
void qfp_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count);
void *qfp_pktmbuf_mtod(struct rte_mbuf *m);
char *qfp_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *qfp_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
char *qfp_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int qfp_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t qfp_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t qfp_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t qfp_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t qfp_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t qfp_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t qfp_pktmbuf_port(const struct rte_mbuf *m);
/* 1 and the RSS hash the NIC computed in *hash, or 0 when the mbuf carries none. */
int qfp_pktmbuf_rss_hash(const struct rte_mbuf *m, uint32_t *hash);

/* Lcores, timing, errors. */
unsigned int qfp_lcore_id(void);
void qfp_pause(void);
uint64_t qfp_rdtsc(void);
void qfp_prefetch0(const void *p);
int qfp_errno(void);

/*
 * CPU guard. The Rust code is compiled for the target features in .cargo/config.toml
 * (AES-NI, PCLMULQDQ, AVX2 and what they imply), and with LTO the compiler uses them even
 * in std's start-up code, before Rust's main. A constructor in this file, compiled without
 * them (-march=corei7), checks the CPU first and exits with one line if it lacks any.
 * build.rs defines QFP_NEED_<FEATURE> for every feature the Rust build enables.
 */
/* Bit i set: the CPU lacks required feature i. */
uint32_t qfp_cpu_missing(void);
/* Number of required features. */
unsigned int qfp_cpu_required_count(void);
/* Display name of required feature i (static), or NULL past the end. */
const char *qfp_cpu_required_name(unsigned int i);

#endif
