//! The publication path under load: two worker threads decrypt and encrypt a stream of
//! packets while the control core publishes and unpublishes hundreds of other inbound SAs
//! (each a new table, swapped under the readers) and reclaims what they dropped. No packet
//! of the surviving SAs is lost, their sequence counter and replay window carry over every
//! swap, and every replaced table comes back to the control core to be freed.

use std::sync::atomic::{AtomicBool, Ordering};

use ctrl::peer::SpiAllocator;
use ctrl::sa_build::{KeyMaterial, SaTemplate, Side};
use dataplane::{DropReason, HeapBuf, PacketBuf, SaDirection};

use crate::sim::*;

const PACKETS: u64 = 6000;

#[test]
fn workers_keep_forwarding_while_the_control_core_replaces_the_tables() {
    let mut node = Node::new(0, &Params { psk: false, ..Params::default() });
    let t = &node.cfg.tunnels[0];
    // What B sends A: ESP under A's inbound SA 0x2001, numbers 0.., sequence 1...
    let peer_out = SaTemplate::new(t, Side::Peer, &[])
        .build((&t.inbound[0]).into(), SaDirection::Outbound, 0, 0)
        .unwrap();
    let esp: Vec<Vec<u8>> = (0..PACKETS)
        .map(|n| {
            let plain = plain(1, n);
            let mut b = HeapBuf::new(&plain[14..]);
            dataplane::encap(&mut b, &peer_out, n + 1).unwrap();
            let mut f = plain[..14].to_vec();
            f.extend_from_slice(b.data());
            f
        })
        .collect();
    let workers = std::mem::take(&mut node.workers);
    let stop = AtomicBool::new(false);
    let (lan, wan) = (node.lan.clone(), node.wan.clone());
    let template = node.gw.tunnels()[0].template.clone();
    let shared = node.shared;
    let mut published = Vec::new();
    let mut swaps = 0u64;
    std::thread::scope(|s| {
        for mut w in workers {
            let stop = &stop;
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    w.poll(1, true);
                }
                // Whatever is left in the rings between them.
                for _ in 0..4 {
                    w.poll(1, false);
                }
            });
        }
        // The control core: traffic in small slices, a table change between slices.
        for (n, f) in esp.iter().enumerate() {
            // Never more in flight than the handoff rings hold (a full ring is a counted
            // drop, however slow the scheduler makes one worker).
            while wan.rx_pending(0) + lan.rx_pending(0) + shared.mesh.pending() > 256 {
                std::thread::yield_now();
            }
            wan.inject(0, f);
            lan.inject(0, &plain(0, n as u64));
            if n % 8 != 0 {
                continue;
            }
            let gw = &mut node.gw;
            if published.len() < 64 && n % 16 == 0 {
                let spi = gw.spis(0).allocate().unwrap();
                let key = [(n % 251) as u8; 16];
                let sa = template
                    .build(
                        KeyMaterial { spi, key: &key, salt: [9; 4] },
                        SaDirection::Inbound,
                        64,
                        0,
                    )
                    .unwrap();
                gw.publish_inbound(0, sa).unwrap();
                published.push(spi);
            } else if let Some(spi) = published.pop() {
                gw.unpublish_inbound(spi).unwrap();
            }
            swaps += 1;
            gw.tick_with(|_| {}, |_| {});
        }
        // Let the workers finish the stream.
        while wan.rx_pending(0) + lan.rx_pending(0) + shared.mesh.pending() > 0 {
            std::thread::yield_now();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
    });
    let mut ws: Vec<_> = (0..2u16)
        .map(|i| {
            let io =
                dataplane::gateway::heap_io::HeapIo::new(lan.clone(), wan.clone(), usize::from(i));
            dataplane::gateway::Worker::new(
                i,
                io,
                node.shared,
                dataplane::gateway::WorkerConf::default(),
            )
        })
        .collect();
    // Whatever a stopped worker left in the rings between them (none in a clean run).
    for _ in 0..4 {
        for w in &mut ws {
            w.poll(1, false);
        }
    }
    let to_lan = lan.take_all_sent();
    let to_wan = wan.take_all_sent();
    let mut seen = vec![false; PACKETS as usize];
    for f in &to_lan {
        seen[number(f).unwrap() as usize] = true;
    }
    let drops: Vec<_> = node.totals().counters.iter_drops().filter(|d| d.1 > 0).collect();
    assert_eq!(to_lan.len() as u64, PACKETS, "every ESP packet decrypted once; drops {drops:?}");
    assert!(seen.iter().all(|&s| s));
    assert_eq!(to_wan.len() as u64, PACKETS, "every plain packet encrypted");
    assert_eq!(node.totals().counters.total_drops(), 0);
    assert!(swaps >= 700, "{swaps} table changes under the workers");

    // The surviving SAs kept their state through every swap.
    let inb = node.gw.writer().inbound_sa(0x2001).unwrap().sa.clone();
    let out = node.gw.writer().outbound(0).unwrap().clone();
    assert_eq!((inb.stats().packets, inb.stats().seq), (PACKETS, PACKETS));
    assert_eq!((out.stats().packets, out.stats().seq), (PACKETS, PACKETS));
    // Replays are refused: the last packets as replays inside the window, the first ones
    // as too old. The window was never reset.
    for f in esp[..3].iter().chain(&esp[esp.len() - 3..]) {
        wan.inject(0, f);
    }
    for _ in 0..4 {
        for w in &mut ws {
            w.poll(2, true);
        }
    }
    assert_eq!(node.drops(DropReason::AntiReplay), 3);
    assert_eq!(node.drops(DropReason::OutOfWindow), 3);
    // Every replaced table came back to the control core to be freed there.
    let mut back = 0;
    for _ in 0..100_000 {
        node.gw.tick_with(|_| {}, |_| {});
        back = node.gw.control_json().reclaimed;
        if back >= swaps {
            break;
        }
        for w in &mut ws {
            w.poll(3, true);
        }
        std::thread::yield_now();
    }
    let c = node.gw.control_json();
    assert_eq!(c.reclaim_dropped_in_place, 0);
    assert!(back >= swaps, "{back} of {swaps} tables reclaimed");
}
