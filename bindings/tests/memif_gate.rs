//! A net_memif peer that disconnects while an lcore bursts on its port must not kill the
//! process (see `src/gate.rs`): DPDK's interrupt thread unmaps the shared rings in
//! `memif_disconnect` with nothing to keep the bursts of other threads away.
//!
//! One process, one socket: a memif server polled without pause on lcore 1 (rx and tx
//! bursts) and a memif client that the main thread stops and starts again and again, so
//! the server's interrupt thread runs its disconnect over and over. Every thread of the
//! process shares one CPU, so the interrupt thread preempts the poller anywhere, in the
//! middle of a burst too. Without the gate this dies of SIGSEGV within a few dozen
//! cycles (checked by switching the gate off); with it, every cycle passes, and the
//! traffic that crossed between cycles is counted to show the poller really worked.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dpdk_sys::{Burst, DEFAULT_DATA_ROOM, Eal, Mbuf, Mempool, Port, PortConfig, SOCKET_ANY};

const CYCLES: usize = 150;

fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let since = Instant::now();
    while !cond() {
        assert!(since.elapsed() < Duration::from_secs(20), "{what} within 20 s");
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn a_peer_disconnecting_under_bursts_does_not_crash_the_poller() {
    // Every thread on one CPU: the one this test may run on.
    let cpu = core_affinity::get_core_ids().and_then(|c| c.first().copied()).expect("a CPU");
    assert!(core_affinity::set_for_current(cpu), "pin the test to CPU {}", cpu.id);
    let dir = std::env::temp_dir().join(format!("dpdk-sys-memif-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("m.sock");
    let sock = sock.display();
    let args = [
        "dpdk-sys-memif-test".to_owned(),
        "--no-huge".into(),
        "-m".into(),
        "256".into(),
        "--no-pci".into(),
        format!("--file-prefix=dpdk-sys-memif-{}", std::process::id()),
        format!("--lcores=0@{0},1@{0}", cpu.id),
        format!("--vdev=net_memif0,role=server,id=0,socket={sock},socket-abstract=no"),
        format!("--vdev=net_memif1,role=client,id=0,socket={sock},socket-abstract=no"),
        "--log-level=*:warning".into(),
    ];
    let eal = Eal::init(args).expect("EAL with two memif ports");
    let pool = Mempool::pktmbuf(&eal, "gate_pool", 4095, 64, DEFAULT_DATA_ROOM, SOCKET_ANY)
        .expect("a pool");
    let cfg = PortConfig { rx_desc: 256, tx_desc: 256, ..Default::default() };
    let mut server = Port::configure(&eal, 0, &cfg, &pool).expect("server port");
    let mut client = Port::configure(&eal, 1, &cfg, &pool).expect("client port");
    assert_eq!(
        (server.info().driver.as_str(), client.info().driver.as_str()),
        ("net_memif", "net_memif")
    );
    server.start().unwrap();

    let stop = AtomicBool::new(false);
    let bursts = AtomicU64::new(0);
    let mut crossed = 0u64;
    eal.scope(|s| {
        let (mut rx, mut tx) = server.queues().unwrap();
        let (stop, bursts, pool) = (&stop, &bursts, &pool);
        s.launch(1, move || {
            let (rx, tx) = (&mut rx[0], &mut tx[0]);
            let mut b = Burst::new();
            while !stop.load(Ordering::Relaxed) {
                rx.rx_burst(&mut b, 32);
                b.clear();
                for _ in 0..32 {
                    let Some(m) = Mbuf::from_slice(pool, &[0x5a; 1000]) else { break };
                    if b.push(m).is_err() {
                        break;
                    }
                }
                tx.tx_burst_or_free(&mut b);
                bursts.fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap();
        for cycle in 0..CYCLES {
            client.start().unwrap();
            until("the client connects", || client.link().unwrap().up);
            until("the server sees it", || server.link().unwrap().up);
            {
                let (mut crx, _ctx) = client.queues().unwrap();
                let mut b = Burst::new();
                until("server traffic reaches the client", || crx[0].rx_burst(&mut b, 32) > 0);
                crossed += b.clear() as u64;
            }
            // The client's disconnect: the server's interrupt thread unmaps the rings the
            // poller is bursting on.
            client.stop().unwrap();
            until("the server sees the disconnect", || !server.link().unwrap().up);
            if cycle % 50 == 49 {
                eprintln!("{} cycles, {} bursts", cycle + 1, bursts.load(Ordering::Relaxed));
            }
        }
        stop.store(true, Ordering::Relaxed);
    })
    .expect("the poller returned");
    assert!(crossed >= CYCLES as u64, "traffic crossed in every cycle: {crossed}");
    assert!(bursts.load(Ordering::Relaxed) > CYCLES as u64);
    drop((server, client));
    let runtime = eal.runtime_dir();
    drop(eal);
    let _ = std::fs::remove_dir_all(runtime);
    let _ = std::fs::remove_dir_all(&dir);
}
