//! The whole gateway logic without DPDK: workers over in-memory ports, the tables, the
//! handoff rings and the control rings, in threads or stepped by hand. Every packet is
//! accounted for: what leaves is decrypted (by the peer's SAs) or compared byte for byte,
//! and every drop is expected under its reason.

mod gw;

use dataplane::drops::{DropReason, Event};
use dataplane::gateway::heap_io::{HeapIo, HeapPort};
use dataplane::gateway::{PortRole, PuntKind, Shared, Worker, WorkerConf, WorkerSnapshot};
use dataplane::{HeapBuf, Sa};
use gw::*;
use std::collections::BTreeMap;
use std::sync::Arc;

type Ports = (Arc<HeapPort>, Arc<HeapPort>);

fn ports(queues: usize) -> Ports {
    (HeapPort::new(queues), HeapPort::new(queues))
}

fn total(shared: &Shared<HeapBuf>) -> WorkerSnapshot {
    let mut s = WorkerSnapshot::default();
    for w in shared.stats.iter() {
        s += &w.snapshot();
    }
    s
}

/// received + injected = sent + dropped + consumed, and every handoff arrived.
fn assert_accounted(s: &WorkerSnapshot) {
    let c = &s.counters;
    let consumed = c.events(Event::NattKeepalive) + c.events(Event::Punted);
    assert_eq!(
        s.rx_total() + c.events(Event::Injected),
        s.tx_total() + c.total_drops() + consumed,
        "rx {:?} tx {:?} drops {} consumed {consumed}",
        s.rx,
        s.tx,
        c.total_drops()
    );
    assert_eq!(c.events(Event::HandedOff), c.events(Event::HandoffReceived));
}

/// Runs `workers` workers in threads until every rx queue is empty, then stops them.
fn run_threads(shared: &Shared<HeapBuf>, (lan, wan): &Ports, workers: usize) {
    std::thread::scope(|s| {
        for w in 0..workers {
            let io = HeapIo::new(lan.clone(), wan.clone(), w);
            s.spawn(move || {
                let mut worker = Worker::new(w as u16, io, shared, WorkerConf::default());
                let start = std::time::Instant::now();
                worker.run(|| start.elapsed().as_nanos() as u64, |_| std::thread::yield_now());
            });
        }
        while (0..lan.rx_queues()).any(|q| lan.rx_pending(q) + wan.rx_pending(q) > 0) {
            std::thread::yield_now();
        }
        shared.run.stop();
    });
}

fn drops(s: &WorkerSnapshot) -> BTreeMap<&'static str, u64> {
    s.counters.iter_drops().filter(|(_, n)| *n > 0).map(|(r, n)| (r.name(), n)).collect()
}

/// Compares two multisets of frames; on a difference, names counts and the first frame
/// that is missing or extra (its first bytes), not two walls of bytes.
fn assert_same_frames(mut got: Vec<Vec<u8>>, mut want: Vec<Vec<u8>>, what: &str) {
    got.sort();
    want.sort();
    if got == want {
        return;
    }
    let extra = got.iter().find(|g| !want.contains(g));
    let missing = want.iter().find(|w| !got.contains(w));
    let head = |f: Option<&Vec<u8>>| f.map(|f| format!("{:02x?}", &f[..f.len().min(48)]));
    panic!(
        "{what}: {} frames, {} expected; first unexpected {:?}; first missing {:?}",
        got.len(),
        want.len(),
        head(extra),
        head(missing)
    );
}

#[test]
fn two_workers_hand_off_and_every_packet_arrives() {
    let defs = tunnels();
    let (writer, outs, ins) = gateway(&defs, 2);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 2, 1024, 64);
    let ports = ports(2);
    let (lan, wan) = &ports;
    let peer_out: Vec<Sa> = defs.iter().map(|d| d.peer_out()).collect();

    let mut want_lan = Vec::new();
    let mut want_plain: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    let n = 300u32;
    for i in 0..n {
        // From the peers: tunnel 0 (IPv4 ESP) and tunnel 1 (IPv6 NAT-T ESN), each SA's
        // packets spread over both rx queues, so half land on the worker that does not
        // own the SA.
        let t = (i % 2) as usize;
        let src = if t == 0 { [192, 168, 105, 7] } else { [192, 168, 106, 7] };
        let inner =
            inner4(src, [192, 168, 115, (i % 200) as u8 + 1], 64, i, 40 + (i as usize * 7) % 1300);
        wan.inject(((i / 2) % 2) as usize, &from_wan(&seal(&peer_out[t], &inner)));
        want_lan.push(eth(ROUTER, MAC_P, 0x0800, &forwarded(&inner)));
        // From the LAN: IPv4 and IPv6 into tunnel 0, IPv4 into tunnel 1.
        let plain = match i % 3 {
            0 => inner4(
                [192, 168, 115, 9],
                [192, 168, 105, (i % 250) as u8 + 1],
                64,
                i,
                64 + i as usize % 900,
            ),
            1 => inner6("fd00:115::9", "fd00:105::1", 64, i, 100 + i as usize % 1000),
            _ => inner4([192, 168, 115, 9], [192, 168, 106, 3], 9, i, 1200),
        };
        let tunnel = if i % 3 == 2 { 1 } else { 0 };
        lan.inject((i % 2) as usize, &from_lan(&plain));
        want_plain.entry(tunnel).or_default().push(forwarded(&plain));
    }
    run_threads(&shared, &ports, 2);

    let s = total(&shared);
    assert_eq!(drops(&s), BTreeMap::new(), "no drop expected");
    assert_accounted(&s);
    assert_eq!(s.rx, [u64::from(n), u64::from(n)]);
    assert_eq!(s.tx, [u64::from(n), u64::from(n)]);
    assert_eq!(s.counters.events(Event::Decrypted), u64::from(n));
    assert_eq!(s.counters.events(Event::Encrypted), u64::from(n));
    assert!(s.counters.events(Event::HandedOff) >= u64::from(n) / 2, "handoffs happened");
    assert_same_frames(lan.take_all_sent(), want_lan, "decapsulated frames");

    // Every ESP frame: right Ethernet header, decrypts at the peer, sequence numbers of
    // each SA go 1, 2, 3... in the order they left (one owner, one tx queue per SA).
    let peer_in: Vec<Sa> = defs.iter().filter_map(|d| d.peer_in()).collect();
    let peer_refs: Vec<&Sa> = peer_in.iter().collect();
    let mut got: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    for q in 0..2 {
        let mut last: BTreeMap<u32, u64> = BTreeMap::new();
        for f in wan.take_sent(q) {
            let (spi, seq, inner) = open(&f, &peer_refs);
            let t = if spi == 0x1001 { 0 } else { 1 };
            assert_eq!(&f[..6], &defs[t].next_hop[..], "next-hop MAC of tunnel {t}");
            assert_eq!(&f[6..12], &MAC_U[..], "our unprotected MAC");
            let prev = last.insert(spi, seq).unwrap_or(0);
            assert_eq!(seq, prev + 1, "SPI {spi:#x}: sequence numbers in order");
            assert_eq!(q, usize::from(defs[t].owner), "sent by the tunnel's owner");
            got.entry(t as u32).or_default().push(inner);
        }
    }
    for (t, want) in want_plain {
        assert_same_frames(got.remove(&t).unwrap_or_default(), want, &format!("tunnel {t}"));
    }
    // Per-SA counters.
    let count = |t: usize| (0..n).filter(|i| (i % 2) as usize == t).count() as u64;
    assert_eq!(ins[0].stats().packets, count(0));
    assert_eq!(ins[1].stats().packets, count(1));
    let out0 = outs[0].as_ref().unwrap().stats();
    let out1 = outs[1].as_ref().unwrap().stats();
    assert_eq!(out0.packets + out1.packets, u64::from(n));
    assert_eq!(out1.packets, (0..n).filter(|i| i % 3 == 2).count() as u64);
    assert_eq!(out0.seq, out0.packets, "one sequence number per packet");
}

/// Steps the workers by hand, in order, until none has anything left to do.
fn step_all(workers: &mut [Worker<'_, HeapIo>], now: u64) {
    loop {
        let work: usize = workers.iter_mut().map(|w| w.poll(now, true)).sum();
        if work == 0 {
            return;
        }
    }
}

fn esp_v4(spi: u32, seq: u32, body: &[u8], frag: bool) -> Vec<u8> {
    let mut esp = spi.to_be_bytes().to_vec();
    esp.extend_from_slice(&seq.to_be_bytes());
    esp.extend_from_slice(body);
    let mut ip = ipv4(PEER4, LOCAL4, 50, 64, &esp);
    if frag {
        ip[6] |= 0x20; // More Fragments
        ip[10] = 0;
        ip[11] = 0;
        let c = dataplane::wire::checksum::of(&ip[..20]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    ip
}

/// Every outcome the gateway adds around decap and encap, one or two packets each, both
/// workers stepped by hand: each drop is counted once under its reason, punts and reports
/// reach the control rings, and nothing else leaves.
#[test]
fn every_gateway_outcome_is_counted_once_under_its_reason() {
    let defs = tunnels();
    let (writer, _outs, ins) = gateway(&defs, 2);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 2, 1024, 64);
    let (lan, wan) = ports(2);
    let peer0 = defs[0].peer_out();
    let peer1 = defs[1].peer_out();
    let good = |tag: u32| inner4([192, 168, 105, 7], [192, 168, 115, 9], 64, tag, 100);
    let mut want: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut expect = |r: DropReason, n: u64| *want.entry(r.name()).or_default() += n;

    // --- unprotected port ---
    let ok1 = seal(&peer0, &good(1));
    wan.inject(0, &from_wan(&ok1));
    wan.inject(0, &from_wan(&ok1)); // exact replay
    expect(DropReason::AntiReplay, 1);
    let mut tagged = from_wan(&seal(&peer0, &good(2)));
    tagged.splice(12..12, [0x81, 0x00, 0xa0, 0x00]); // priority tag: accepted
    wan.inject(0, &tagged);
    let mut vlan = from_wan(&seal(&peer0, &good(3)));
    vlan.splice(12..12, [0x81, 0x00, 0x00, 0x64]); // VLAN 100: not ours
    wan.inject(0, &vlan);
    expect(DropReason::UnknownL2, 1);
    wan.inject(0, &eth(MAC_U, NH0, 0x0806, &[0u8; 46])); // ARP
    expect(DropReason::UnknownL2, 1);
    let mut short = ipv4(PEER4, LOCAL4, 50, 64, &[0u8; 40]);
    short.truncate(30); // Total Length says 60
    wan.inject(0, &from_wan(&short));
    expect(DropReason::IpVersion, 1);
    wan.inject(0, &from_wan(&ipv4(PEER4, STRANGER4, 50, 64, &[1u8; 60])));
    expect(DropReason::NotForUs, 1);
    wan.inject(0, &from_wan(&ipv4(PEER4, LOCAL4, 1, 64, &[8, 0, 0, 0, 0, 0, 0, 0])));
    expect(DropReason::ForUsUnhandled, 1);
    wan.inject(0, &from_wan(&ipv4(PEER4, LOCAL4, 17, 64, &udp(500, 500, b"hello peer"))));
    wan.inject(0, &from_wan(&ipv4(STRANGER4, LOCAL4, 17, 64, &udp(500, 500, b"hello?"))));
    expect(DropReason::PeerChannelDeny, 1);
    wan.inject(0, &from_wan(&ipv6(peer6(), local6(), 17, 64, &udp(4500, 4500, &[0xff]))));
    wan.inject(
        0,
        &from_wan(&ipv6(peer6(), local6(), 17, 64, &udp(4500, 4500, &[0, 0, 0, 0, 9, 9]))),
    );
    wan.inject(0, &from_wan(&esp_v4(0x9999, 1, &[0u8; 40], false)));
    expect(DropReason::SaNotFoundV4, 1);
    wan.inject(
        0,
        &from_wan(&ipv6(
            peer6(),
            local6(),
            50,
            64,
            &[
                0, 0, 0x77, 0x77, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        )),
    );
    expect(DropReason::SaNotFoundV6, 1);
    let mut flipped = seal(&peer0, &good(4));
    *flipped.last_mut().unwrap() ^= 1;
    wan.inject(0, &from_wan(&flipped));
    expect(DropReason::MacException, 1);
    wan.inject(0, &from_wan(&esp_v4(0x2001, 77, &[0u8; 12], false)));
    expect(DropReason::HeadPadLen, 1);
    wan.inject(0, &from_wan(&esp_v4(0x2001, 78, &[0u8; 60], true)));
    expect(DropReason::FragV4, 1);
    wan.inject(
        0,
        &from_wan(&seal(&peer0, &inner4([192, 168, 105, 7], [192, 168, 115, 9], 1, 5, 80))),
    );
    expect(DropReason::TtlExceeded, 1);
    wan.inject(0, &from_wan(&seal(&peer0, &inner4([192, 168, 105, 7], [10, 1, 1, 1], 64, 6, 80))));
    expect(DropReason::NoRoute, 1);
    wan.inject(0, &from_wan(&seal(&peer0, &inner4([10, 9, 9, 9], [192, 168, 115, 9], 64, 7, 80))));
    expect(DropReason::PolicyV4, 1);
    // Tunnel 1 (IPv6, NAT-T, ESN): one good packet, owned by worker 0.
    wan.inject(
        1,
        &from_wan(&seal(&peer1, &inner4([192, 168, 106, 7], [192, 168, 115, 9], 64, 8, 300))),
    );

    // --- protected port ---
    lan.inject(0, &eth(MAC_P, LAN_HOST, 0x0806, &[0u8; 46]));
    expect(DropReason::UnknownL2, 1);
    let mut bad_sum = inner4([192, 168, 115, 9], [192, 168, 105, 1], 64, 9, 60);
    bad_sum[10] ^= 0xff;
    lan.inject(0, &from_lan(&bad_sum));
    expect(DropReason::BadIpChecksum, 1);
    lan.inject(0, &from_lan(&inner4([192, 168, 115, 9], [8, 8, 8, 8], 64, 10, 60)));
    expect(DropReason::DenyV4, 1);
    lan.inject(0, &from_lan(&inner6("fd00:115::9", "2001:db8:99::1", 64, 11, 60)));
    expect(DropReason::DenyV6, 1);
    lan.inject(0, &from_lan(&inner4([192, 168, 115, 9], [192, 168, 105, 1], 1, 12, 60)));
    expect(DropReason::TtlExceeded, 1);
    lan.inject(1, &from_lan(&inner4([192, 168, 115, 9], [192, 168, 107, 1], 64, 13, 60)));
    expect(DropReason::OutSaNotFoundV4, 1);
    lan.inject(1, &from_lan(&inner4([192, 168, 115, 9], [192, 168, 105, 1], 64, 14, 1460)));
    expect(DropReason::CannotFragDf, 1);
    lan.inject(1, &from_lan(&inner4([192, 168, 115, 9], [192, 168, 106, 1], 64, 15, 500)));
    lan.inject(0, &from_lan(&inner6("fd00:115::9", "fd00:105::1", 64, 16, 500)));

    let mut workers: Vec<_> = (0..2)
        .map(|w| {
            Worker::new(
                w,
                HeapIo::new(lan.clone(), wan.clone(), w as usize),
                &shared,
                WorkerConf::default(),
            )
        })
        .collect();
    step_all(&mut workers, 1_000_000_000);
    let s = total(&shared);
    assert_eq!(drops(&s), want);
    assert_accounted(&s);
    let c = &s.counters;
    assert_eq!(c.events(Event::NattKeepalive), 1);
    assert_eq!(c.events(Event::Punted), 2);
    // 3 forwarded, plus the TTL and no-route drops (the policy check is inside decap).
    assert_eq!(c.events(Event::Decrypted), 3 + 2);
    assert_eq!(c.events(Event::Encrypted), 2);
    assert_eq!(c.events(Event::InvalidSpiPunted), 2);
    assert_eq!(s.tx, [3, 2], "forwarded: 3 decapsulated, 2 encapsulated");
    assert_eq!(ins[0].stats().replay_failed, 1);
    assert_eq!(ins[0].stats().verify_failed, 1);

    let mut punts = Vec::new();
    while let Some(p) = shared.ctrl.pop_punt() {
        punts.push((p.kind, p.worker, dataplane::PacketBuf::data(&p.pkt)[0] >> 4));
    }
    assert_eq!(punts, vec![(PuntKind::PeerChannel, 0, 4), (PuntKind::Ike, 0, 6)]);
    let mut spis = Vec::new();
    while let Some(r) = shared.ctrl.pop_invalid_spi() {
        spis.push((r.event.spi, r.event.src, r.worker));
    }
    assert_eq!(spis, vec![(0x9999, PEER4.into(), 0), (0x7777, peer6().into(), 0)]);
    assert_eq!(lan.take_all_sent().len() + wan.take_all_sent().len(), 5);
}

/// A full handoff ring is a tail drop at the sender, never a wait; a tx queue that takes
/// less than it is given is TxFull.
#[test]
fn full_rings_and_full_tx_queues_are_counted_drops() {
    let defs = tunnels();
    let (writer, _, _) = gateway(&defs, 2);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 2, 4, 64);
    let (lan, wan) = ports(2);
    let peer0 = defs[0].peer_out();
    for i in 0..10 {
        let inner = inner4([192, 168, 105, 7], [192, 168, 115, 9], 64, i, 64);
        wan.inject(0, &from_wan(&seal(&peer0, &inner)));
    }
    let mut w0 =
        Worker::new(0, HeapIo::new(lan.clone(), wan.clone(), 0), &shared, WorkerConf::default());
    let mut w1 =
        Worker::new(1, HeapIo::new(lan.clone(), wan.clone(), 1), &shared, WorkerConf::default());
    assert_eq!(w0.poll(1, true), 10);
    let s = total(&shared);
    assert_eq!(s.counters.drops(DropReason::TailDrop), 6, "ring of 4");
    assert_eq!(s.counters.events(Event::HandedOff), 4);
    lan.set_tx_limit(1);
    assert_eq!(w1.poll(2, true), 4);
    let s = total(&shared);
    assert_eq!(s.counters.drops(DropReason::TxFull), 3);
    assert_eq!(s.tx[PortRole::Protected.index()], 1);
    assert_accounted(&s);
}

/// Publication: switching the outbound SA takes effect at the next burst; unpublishing an
/// inbound SA makes its SPI unknown; republishing the same SA carries its replay window
/// over; an invalidated SA is "hit invalid SA"; replaced values come back to the writer.
#[test]
fn publication_switches_and_carries_state_over() {
    let defs = tunnels();
    let (mut writer, outs, ins) = gateway(&defs, 1);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 1, 64, 64);
    let (lan, wan) = ports(1);
    let mut w =
        Worker::new(0, HeapIo::new(lan.clone(), wan.clone(), 0), &shared, WorkerConf::default());
    let peer0 = defs[0].peer_out();
    let plain = |tag| from_lan(&inner4([192, 168, 115, 9], [192, 168, 105, 1], 64, tag, 64));

    // Outbound: old SA, then a new one (fresh sequence), then none.
    lan.inject(0, &plain(1));
    w.poll(1, true);
    let mut next = defs[0].clone();
    next.out = Some(Keys::new(0x1101, 16));
    let new_out = Arc::new(next.our_out().unwrap());
    let old = writer.switch_outbound(0, Some(new_out.clone())).unwrap().unwrap();
    assert!(Arc::ptr_eq(&old, outs[0].as_ref().unwrap()));
    lan.inject(0, &plain(2));
    w.poll(2, true);
    let sent = wan.take_sent(0);
    let peer_old = defs[0].peer_in().unwrap();
    let peer_new = next.peer_in().unwrap();
    assert_eq!(open(&sent[0], &[&peer_old]).0, 0x1001);
    assert_eq!(open(&sent[1], &[&peer_new]).0, 0x1101);
    assert_eq!((old.stats().packets, new_out.stats().packets, new_out.stats().seq), (1, 1, 1));
    writer.switch_outbound(0, None).unwrap();
    lan.inject(0, &plain(3));
    w.poll(3, true);
    assert_eq!(total(&shared).counters.drops(DropReason::OutSaNotFoundV4), 1);
    assert!(writer.switch_outbound(0, Some(ins[0].clone())).is_err(), "an inbound SA");

    // Inbound: decrypt, unpublish (unknown SPI), republish the same SA (window kept).
    let p1 = from_wan(&seal(&peer0, &inner4([192, 168, 105, 7], [192, 168, 115, 9], 64, 4, 64)));
    wan.inject(0, &p1);
    w.poll(4, true);
    let entry = writer.unpublish_inbound(0x2001).unwrap();
    assert!(!writer.is_published(0x2001));
    wan.inject(
        0,
        &from_wan(&seal(&peer0, &inner4([192, 168, 105, 7], [192, 168, 115, 9], 64, 5, 64))),
    );
    w.poll(5, true);
    writer.publish_inbound(entry.tunnel, entry.sa.clone(), 0).unwrap();
    assert!(writer.publish_inbound(0, entry.sa.clone(), 0).is_err(), "duplicate SPI");
    wan.inject(0, &p1); // a replay of the first: the window survived unpublishing
    w.poll(6, true);
    entry.sa.invalidate();
    wan.inject(
        0,
        &from_wan(&seal(&peer0, &inner4([192, 168, 105, 7], [192, 168, 115, 9], 64, 6, 64))),
    );
    w.poll(7, true);
    let s = total(&shared);
    assert_eq!(s.counters.drops(DropReason::SaNotFoundV4), 1);
    assert_eq!(s.counters.drops(DropReason::AntiReplay), 1);
    assert_eq!(s.counters.drops(DropReason::HitInvalidSaV4), 1);
    assert_eq!(entry.sa.stats().packets, 1);
    assert_accounted(&s);

    // Everything replaced came back to the writer (snapshots and outbound SAs). The epoch
    // advances only when no thread of this process stays pinned in an old one (another
    // test's thread printing a panic does, for a while): keep collecting until it has.
    let mut back = 0;
    for _ in 0..1_000_000 {
        back += writer.reclaim();
        w.poll(8, true);
        if back >= 6 {
            break;
        }
        std::thread::yield_now();
    }
    let r = writer.reclaim_stats();
    assert_eq!(r.dropped_in_place, 0);
    assert!(back >= 6, "{r:?}");
}

/// The control core's frames go out through worker 0, counted as injected and sent.
#[test]
fn injected_frames_leave_on_the_unprotected_port() {
    let defs = tunnels();
    let (writer, _, _) = gateway(&defs, 2);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 2, 64, 4);
    let (lan, wan) = ports(2);
    let frame = eth(NH0, MAC_U, 0x0800, &ipv4(LOCAL4, PEER4, 17, 64, &udp(500, 500, b"rekey")));
    for _ in 0..4 {
        assert!(shared.ctrl.inject(HeapBuf::new(&frame)).is_ok());
    }
    assert!(shared.ctrl.inject(HeapBuf::new(&frame)).is_err(), "ring of 4");
    let mut w1 =
        Worker::new(1, HeapIo::new(lan.clone(), wan.clone(), 1), &shared, WorkerConf::default());
    assert_eq!(w1.poll(1, true), 0, "only worker 0 sends injected frames");
    let mut w0 =
        Worker::new(0, HeapIo::new(lan.clone(), wan.clone(), 0), &shared, WorkerConf::default());
    assert_eq!(w0.poll(1, true), 4);
    assert_eq!(wan.take_sent(0), vec![frame.clone(); 4]);
    let s = total(&shared);
    assert_eq!((s.counters.events(Event::Injected), s.tx_total()), (4, 4));
    assert_accounted(&s);
}

/// A worker whose port panics.
struct PanickyIo;

impl dataplane::gateway::PortIo for PanickyIo {
    type Pkt = HeapBuf;
    fn rx(&mut self, _: PortRole, _: &mut dataplane::gateway::Batch<HeapBuf>, _: usize) -> usize {
        panic!("a broken port (expected by the test)")
    }
    fn tx(&mut self, _: PortRole, pkts: &mut dataplane::gateway::Batch<HeapBuf>) -> usize {
        pkts.clear();
        0
    }
    fn has_rx(&self, _: PortRole) -> bool {
        true
    }
}

/// A worker that dies does not keep the others from stopping: it counts as stopped.
#[test]
fn a_panicking_worker_does_not_hang_the_stop() {
    let defs = tunnels();
    let (writer, _, _) = gateway(&defs, 2);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 2, 64, 64);
    let (lan, wan) = ports(2);
    std::thread::scope(|s| {
        let good = s.spawn(|| {
            let io = HeapIo::new(lan.clone(), wan.clone(), 0);
            Worker::new(0, io, &shared, WorkerConf::default())
                .run(|| 1, |_| std::thread::yield_now());
        });
        let bad = s.spawn(|| {
            Worker::new(1, PanickyIo, &shared, WorkerConf::default()).run(|| 1, |_| {});
        });
        assert!(bad.join().is_err(), "the broken worker panicked");
        shared.run.stop();
        good.join().unwrap();
    });
    assert_eq!(shared.run.quiet_workers(), 2);
}

/// A data flood that keeps the unprotected tx queue full does not starve the control
/// plane: worker 0 sends the control core's frames in a tx burst of their own, before the
/// data, and keeps the ones the queue refused for the next poll; none is lost while the
/// data overflows as `TxFull`. (Before: injected frames shared the data's tx batch and died
/// as `TxFull` with it.)
#[test]
fn injected_frames_win_over_a_data_flood_and_none_is_lost() {
    let defs = tunnels();
    let (writer, _, _) = gateway(&defs, 1);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 1, 64, 16);
    let (lan, wan) = ports(1);
    let conf = WorkerConf { burst: 8, ..WorkerConf::default() };
    let mut w0 = Worker::new(0, HeapIo::new(lan.clone(), wan.clone(), 0), &shared, conf);
    let msg =
        |i: u8| eth(NH0, MAC_U, 0x0800, &ipv4(LOCAL4, PEER4, 17, 64, &udp(4789, 4789, &[i; 40])));
    let flood = |tag: u32| {
        for k in 0..8 {
            lan.inject(
                0,
                &from_lan(&inner4([192, 168, 115, 9], [192, 168, 105, 1], 64, tag + k, 64)),
            );
        }
    };
    // 12 peer-channel frames: more than the holding area (a burst, 8) takes at once.
    let want: Vec<Vec<u8>> = (0..12).map(msg).collect();
    for f in &want {
        assert!(shared.ctrl.inject(HeapBuf::new(f)).is_ok());
    }
    // The queue is full: it takes nothing for three polls, each with a burst of data.
    wan.set_tx_room(0);
    for p in 0..3 {
        flood(p * 8);
        w0.poll(u64::from(p), true);
    }
    let s = total(&shared);
    assert_eq!(wan.take_sent(0), Vec::<Vec<u8>>::new());
    assert_eq!(drops(&s), BTreeMap::from([("TxFull", 24)]), "only data is dropped");
    assert_eq!(s.counters.events(Event::Injected), 0, "the frames are held, not given up");
    assert_eq!(shared.ctrl.inject_pending(), 4, "8 held, 4 still in the ring");
    assert_accounted(&s);
    // The wire now frees 3 places per poll: still saturated by the data, but the injected
    // frames take them first, in order, until all are out; the data keeps overflowing.
    let mut sent = Vec::new();
    for p in 3..8 {
        wan.set_tx_room(3);
        flood(p * 8);
        w0.poll(u64::from(p), true);
        sent.extend(wan.take_sent(0));
    }
    let injected: Vec<Vec<u8>> = sent.iter().filter(|f| want.contains(f)).cloned().collect();
    assert_eq!(injected, want, "every injected frame left, in order");
    let s = total(&shared);
    // 5 polls x 3 places: 12 injected frames, 3 data frames; the other 37 data frames of
    // those polls overflow.
    assert_eq!(sent.len() - injected.len(), 3);
    assert_eq!(drops(&s), BTreeMap::from([("TxFull", 24 + 37)]));
    assert_eq!(s.counters.events(Event::Injected), 12);
    assert_eq!(s.counters.events(Event::Encrypted), 64);
    assert_eq!(shared.ctrl.inject_pending(), 0);
    assert_accounted(&s);
}

/// When the workers drain to stop, worker 0 gives one last try to the frames it holds and
/// counts the ones the queue still refuses as `TxFull` (given up, never lost silently), so
/// that the stop does not wait for a port that takes nothing.
#[test]
fn held_injected_frames_are_given_up_as_tx_full_at_stop() {
    let defs = tunnels();
    let (writer, _, _) = gateway(&defs, 1);
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 1, 64, 16);
    let (lan, wan) = ports(1);
    let frame = eth(NH0, MAC_U, 0x0800, &ipv4(LOCAL4, PEER4, 17, 64, &udp(4789, 4789, b"bye")));
    for _ in 0..3 {
        assert!(shared.ctrl.inject(HeapBuf::new(&frame)).is_ok());
    }
    wan.set_tx_limit(1);
    let mut w0 =
        Worker::new(0, HeapIo::new(lan.clone(), wan.clone(), 0), &shared, WorkerConf::default());
    assert_eq!(w0.poll(1, true), 1);
    assert_eq!(total(&shared).counters.events(Event::Injected), 1);
    shared.run.stop();
    // run(): one draining poll sends one more and gives the last up, then returns.
    w0.run(|| 2, |_| {});
    assert_eq!(wan.take_sent(0), vec![frame.clone(); 2]);
    let s = total(&shared);
    assert_eq!(drops(&s), BTreeMap::from([("TxFull", 1)]));
    assert_eq!(s.counters.events(Event::Injected), 3);
    assert_accounted(&s);
}
