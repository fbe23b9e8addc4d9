//! The safe layer against a real EAL (`--no-huge`, virtual devices). DPDK starts once per
//! process, so this file is one test binary with one test function that walks through
//! every part in order; each step fails with its own message.

use std::sync::atomic::{AtomicU64, Ordering};

use dpdk_sys::{
    Burst, DEFAULT_DATA_ROOM, Eal, Error, Mbuf, Mempool, NoRoom, Port, PortConfig, SOCKET_ANY,
};

const POOL: u32 = 1023;

fn eal_args() -> Vec<String> {
    // Two lcores on one CPU we may run on: works on any machine, even with one CPU.
    let cpu = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?.to_owned();
            let first = line.split(':').nth(1)?.trim().split([',', '-']).next()?.to_owned();
            first.parse::<u32>().ok()
        })
        .unwrap_or(0);
    [
        "dpdk-sys-test".to_owned(),
        "--no-huge".into(),
        "-m".into(),
        "256".into(),
        "--no-pci".into(),
        format!("--file-prefix=dpdk-sys-test-{}", std::process::id()),
        format!("--lcores=0@{cpu},1@{cpu}"),
        "--vdev=net_ring0".into(),
        "--vdev=net_null1,size=70".into(),
        "--log-level=*:warning".into(),
    ]
    .into()
}

#[test]
fn eal_pool_mbuf_burst_port_launch() {
    assert!(matches!(Eal::init(["x", "bad\0arg"]), Err(Error::InvalidArgument(_))));
    let eal = Eal::init(eal_args()).expect("EAL starts with --no-huge and two vdevs");
    assert_eq!(Eal::init(eal_args()).unwrap_err(), Error::AlreadyInitialized);
    assert_eq!(eal.lcore_count(), 2);
    assert_eq!(eal.main_lcore(), 0);
    assert_eq!(eal.worker_lcores(), vec![1]);
    assert_eq!(dpdk_sys::lcore_id(), Some(0), "the init thread is the main lcore");
    assert_eq!(eal.port_ids(), vec![0, 1]);
    assert!(eal.tsc_hz() > 0);
    assert!(Eal::version().starts_with("DPDK 22.11"), "{}", Eal::version());

    let pool =
        Mempool::pktmbuf(&eal, "test_pool", POOL, 32, DEFAULT_DATA_ROOM, SOCKET_ANY).unwrap();
    assert_eq!(pool.available(), POOL);
    let dup = Mempool::pktmbuf(&eal, "test_pool", POOL, 32, DEFAULT_DATA_ROOM, SOCKET_ANY);
    assert_eq!(dup.unwrap_err().errno(), Some(17), "a second pool with the same name is EEXIST");
    assert!(matches!(
        Mempool::pktmbuf(&eal, "big_cache", 100, 512, DEFAULT_DATA_ROOM, SOCKET_ANY),
        Err(Error::InvalidArgument(_))
    ));

    mbuf_room_and_bytes(&pool);
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
    burst_moves_and_frees(&pool);
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
    ports(&eal, &pool);
    assert_eq!(pool.in_use(), 0, "closing the ports returned their mbufs");
    launch(&eal);

    let runtime = eal.runtime_dir();
    assert!(
        runtime.ends_with(format!("dpdk-sys-test-{}", std::process::id())),
        "{}",
        runtime.display()
    );
    assert!(runtime.is_dir());
    drop(eal);
    std::fs::remove_dir_all(&runtime).unwrap();
}

fn mbuf_room_and_bytes(pool: &Mempool<'_>) {
    let mut m = pool.alloc().unwrap();
    assert_eq!((m.len(), m.headroom(), m.tailroom()), (0, 128, 2048));
    assert!(m.is_empty() && m.is_contiguous());
    m.append(100).unwrap();
    m.data_mut().iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    m.prepend(14).unwrap();
    assert_eq!((m.len(), m.headroom(), m.tailroom()), (114, 114, 1948));
    assert_eq!(m.data()[14..], (0..100).map(|i| i as u8).collect::<Vec<_>>()[..]);
    assert_eq!(m.prepend(115), Err(NoRoom), "headroom is 114");
    assert_eq!(m.append(1949), Err(NoRoom), "tailroom is 1948");
    assert_eq!(m.append(70_000), Err(NoRoom), "over u16 is refused, not truncated");
    assert_eq!(m.len(), 114, "failed operations change nothing");
    m.adj(14).unwrap();
    m.trim(50).unwrap();
    assert_eq!(m.data(), &(0..50).map(|i| i as u8).collect::<Vec<_>>()[..]);
    assert_eq!(m.trim(51), Err(NoRoom));
    assert_eq!(m.adj(51), Err(NoRoom));
    assert_eq!(m.pkt_len(), 50);
    let c = Mbuf::from_slice(pool, b"hello").unwrap();
    assert_eq!(c.data(), b"hello");
    assert!(Mbuf::from_slice(pool, &[0; 2049]).is_none(), "larger than the data room");
    assert_eq!(pool.in_use(), 2);
}

fn burst_moves_and_frees(pool: &Mempool<'_>) {
    let mut b = Burst::new();
    assert!(pool.alloc_bulk(&mut b, 10));
    assert_eq!(b.len(), 10);
    assert!(!pool.alloc_bulk(&mut b, Burst::CAPACITY), "no room for a full burst more");
    assert_eq!(b.len(), 10, "a failed bulk alloc leaves the burst alone");
    for (i, m) in b.iter_mut().enumerate() {
        m.append(1).unwrap();
        m.data_mut()[0] = i as u8;
    }
    let last = b.pop().unwrap();
    assert_eq!(last.data(), &[9]);
    b.push(last).unwrap();
    let firsts: Vec<u8> = b.drain().take(3).map(|m| m.data()[0]).collect();
    assert_eq!(firsts, vec![0, 1, 2]);
    assert!(b.is_empty(), "drain empties the burst and frees what it did not yield");
    assert_eq!(pool.in_use(), 0);
    assert!(pool.alloc_bulk(&mut b, 7));
    assert_eq!(b.clear(), 7);
    // Fill to capacity one by one: the 513th push gives the mbuf back.
    let mut full = Burst::new();
    while full.room() > 0 {
        full.push(pool.alloc().unwrap()).unwrap();
    }
    let extra = pool.alloc().unwrap();
    assert!(full.push(extra).is_err());
    drop(full);
    assert_eq!(pool.in_use(), 0);
}

fn ports<'e>(eal: &'e Eal, pool: &Mempool<'e>) {
    // net_ring0 loops its tx ring back to its own rx: what we send comes back, in order.
    let mut ring = Port::configure(
        eal,
        0,
        &PortConfig { rx_desc: 256, tx_desc: 256, ..Default::default() },
        pool,
    )
    .unwrap();
    assert_eq!(ring.info().driver, "net_ring");
    assert_eq!(ring.info().name, "net_ring0");
    assert!(ring.queues().is_err(), "no queues before start");
    ring.start().unwrap();
    assert!(ring.mac().is_ok());
    assert!(ring.link().unwrap().up);
    {
        let (mut rx, mut tx) = ring.queues().unwrap();
        assert!(ring.queues().is_err(), "queues are handed out once");
        let (rx, tx) = (&mut rx[0], &mut tx[0]);
        let mut out = Burst::new();
        for i in 0..5u8 {
            out.push(Mbuf::from_slice(pool, &[i; 60]).unwrap()).unwrap();
        }
        assert_eq!(tx.tx_burst(&mut out), 5);
        assert!(out.is_empty());
        let mut back = Burst::new();
        assert_eq!(rx.rx_burst(&mut back, 32), 5);
        let firsts: Vec<u8> = back.iter().map(|m| m.data()[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 3, 4]);
        assert!(back.iter().all(|m| m.len() == 60));
        assert_eq!(rx.rx_burst(&mut back, 0), 0, "max 0 receives nothing");
    }
    let s = ring.stats().unwrap();
    assert_eq!((s.rx_packets, s.tx_packets), (5, 5));
    ring.stop().unwrap();
    ring.start().unwrap();
    assert!(ring.queues().is_ok(), "a new start hands the queues out again");
    ring.close().unwrap();

    // net_null: any queue count; rx makes packets of `size` bytes out of thin air.
    let too_many = PortConfig { rx_queues: 2000, ..Default::default() };
    assert!(matches!(Port::configure(eal, 1, &too_many, pool), Err(Error::InvalidArgument(_))));
    let conf =
        PortConfig { rx_queues: 2, tx_queues: 2, rx_desc: 128, tx_desc: 128, promiscuous: true };
    let mut null = Port::configure(eal, 1, &conf, pool).unwrap();
    assert_eq!((null.rx_queue_count(), null.tx_queue_count()), (2, 2));
    assert!(null.rss_enabled(), "net_null advertises RSS: configured with RTE_ETH_MQ_RX_RSS");
    null.start().unwrap();
    {
        let (mut rx, mut tx) = null.queues().unwrap();
        let mut b = Burst::new();
        assert_eq!(rx[1].rx_burst(&mut b, 16), 16);
        assert!(b.iter().all(|m| m.len() == 70));
        assert_eq!(tx[1].tx_burst_or_free(&mut b), (16, 0));
    }
    let s = null.stats().unwrap();
    assert_eq!((s.rx_packets, s.tx_packets), (16, 16));
    // net_null reports its RSS set-up like a NIC: key, hash functions, a RETA over both
    // queues (what the gateway's software Toeplitz needs).
    assert!(null.set_reta_round_robin().unwrap());
    let rss = null.rss_state().unwrap().expect("net_null reports RSS");
    assert_eq!(rss.key.len(), 40);
    assert!(rss.key.iter().any(|&b| b != 0), "a real key");
    assert_eq!(rss.reta.len(), usize::from(null.info().reta_size));
    assert!(rss.reta.iter().enumerate().all(|(i, &q)| usize::from(q) == i % 2), "{:?}", rss.reta);
    // Drop closes it.
}

fn launch(eal: &Eal) {
    let hits = AtomicU64::new(0);
    let seen = AtomicU64::new(u64::MAX);
    let r = eal.scope(|s| {
        assert!(s.launch(0, || ()).is_err(), "the main lcore cannot be launched on");
        s.launch(1, || {
            hits.fetch_add(1, Ordering::Relaxed);
            seen.store(u64::from(dpdk_sys::lcore_id().unwrap_or(999)), Ordering::Relaxed);
        })
        .unwrap();
        "done"
    });
    assert_eq!(r.unwrap(), "done");
    assert_eq!(hits.load(Ordering::Relaxed), 1, "the job ran before scope returned");
    assert_eq!(seen.load(Ordering::Relaxed), 1, "it ran on lcore 1");

    let r = eal.scope(|s| s.launch(1, || panic!("worker panic (expected by the test)")).unwrap());
    assert_eq!(r.unwrap_err(), Error::LcorePanicked(vec![1]));

    // The lcore is usable again after a panic.
    let r = eal.scope(|s| {
        s.launch(1, || {
            hits.fetch_add(1, Ordering::Relaxed);
        })
    });
    assert!(r.unwrap().is_ok());
    assert_eq!(hits.load(Ordering::Relaxed), 2);
}
