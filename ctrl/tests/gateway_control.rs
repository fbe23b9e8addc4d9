//! The control core's API over a gateway built from a config, with in-memory workers:
//! what issue 6 (rekeys, the peer channel, qfpctl) drives. Static SAs with the config's
//! `--replay-window` override, owners from RSS, SPIs allocated to land on a wanted worker,
//! publication and outbound switches (counted as rekeys), punts, injections and the
//! tunnels' statistics.

use std::time::Instant;

use ctrl::config::{self, Overrides};
use ctrl::gateway::build;
use ctrl::gateway::control::GatewayControl;
use ctrl::gateway::shard::Sharding;
use ctrl::peer::SpiAllocator;
use ctrl::sa_build::{KeyMaterial, SaTemplate, Side};
use dataplane::drops::{DropReason, Event};
use dataplane::gateway::heap_io::{HeapIo, HeapPort};
use dataplane::gateway::rss::{RssConf, RssFields};
use dataplane::gateway::{Shared, Worker, WorkerConf};
use dataplane::{HeapBuf, PacketBuf, SaDirection};

const CFG: &str = r#"
[gateway]
protected_port = 0
unprotected_port = 1
local = "172.16.1.5"

[[tunnel]]
name = "b1"
peer = "172.16.2.5"
next_hop_mac = "02:00:00:00:01:01"
selectors = ["192.168.105.0/24"]
[[tunnel.sa]]
dir = "out"
spi = 0x1001
aead = "aes-128-gcm"
key = "00112233445566778899aabbccddeeff"
salt = "01020304"
[[tunnel.sa]]
dir = "in"
spi = 0x2001
aead = "aes-128-gcm"
key = "ffeeddccbbaa99887766554433221100"
salt = "05060708"

[[tunnel]]
name = "b2"
peer = "172.16.3.5"
next_hop_mac = "02:00:00:00:01:02"
selectors = ["192.168.106.0/24"]
[[tunnel.sa]]
dir = "out"
spi = 0x1002
aead = "aes-256-gcm"
key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
salt = "0a0b0c0d"
[[tunnel.sa]]
dir = "in"
spi = 0x2002
aead = "aes-256-gcm"
key = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
salt = "0e0f1011"

[[route]]
dst = "192.168.115.0/24"
next_hop_mac = "02:00:00:00:00:01"
"#;

fn rss() -> RssConf {
    RssConf {
        key: (0..40u8).map(|i| i.wrapping_mul(29) ^ 0x6d).collect(),
        reta: (0..128).map(|i| i % 2).collect(),
        fields: RssFields { ip: true, udp: true, esp: true },
    }
}

fn eth(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0xaa, 1, 2, 0, 0, 0, 1, 1, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

fn inner(tag: u8) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 48, 0, tag, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&[192, 168, 105, 7, 192, 168, 115, 9]);
    p.extend_from_slice(&[0x30, 0x39, 0xb2, 0x6e, 0, 28, 0, 0]);
    p.extend_from_slice(&[tag; 20]);
    let c = dataplane::wire::checksum::of(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

#[test]
fn the_control_api_drives_a_running_gateway() {
    let mut cfg = config::parse(CFG, "gw.toml").unwrap();
    cfg.apply_overrides(&Overrides { replay_window: Some(0) }).unwrap();
    let macs = [[2, 0, 0, 0, 0xaa, 0], [2, 0, 0, 0, 0xaa, 1]];
    let mut sharding = Sharding::new(2, 2, Some(rss()));
    let (writer, tunnels) = build::tables(&cfg, 2, macs, &mut sharding, 64).unwrap();
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 2, 64, 16);
    let alloc = Box::new(|f: &[u8]| Some(HeapBuf::new(f)));
    let mut gw = GatewayControl::new(
        writer,
        &shared,
        sharding,
        build::spi_pool(&cfg),
        tunnels,
        Instant::now(),
        alloc,
    );
    let before = gw.writer().generation();
    build::publish_static(&mut gw, &cfg, 0, true).unwrap();
    // Every static inbound SA in one snapshot (one per SA was quadratic at 100k tunnels).
    assert_eq!(gw.writer().generation(), before + 1, "one snapshot for the config's SAs");
    assert_eq!(gw.writer().inbound().count(), 2);

    // Static SAs: the inbound ones are owned by the worker RSS delivers them to, and the
    // --replay-window 0 override reached them.
    for (spi, t) in [(0x2001u32, 0u32), (0x2002, 1)] {
        let e = gw.writer().inbound_sa(spi).unwrap();
        let tunnel = &gw.tunnels()[t as usize].template.tunnel;
        assert_eq!(e.owner, rss().queue_of_inbound(spi, tunnel), "SPI {spi:#x}");
        assert_eq!(e.sa.replay_window(), 0);
    }
    // Tunnels (their outbound SAs) are spread over both workers.
    let owners: Vec<u16> = gw.writer().fixed().tunnels.iter().map(|t| t.owner).collect();
    assert_eq!(owners, vec![0, 1]);

    // A new inbound SA of tunnel 0 whose SPI lands on the least-loaded worker.
    let (spi, want) = {
        let mut spis = gw.spis(0);
        let want = spis.sharding.least_loaded();
        (spis.allocate().unwrap(), want)
    };
    let template: SaTemplate = gw.tunnels()[0].template.clone();
    let keys = KeyMaterial { spi, key: &[0x42; 16], salt: [1, 2, 3, 4] };
    let sa = template.build(keys, SaDirection::Inbound, 64, gw.now_ns()).unwrap();
    assert_eq!(gw.publish_inbound(0, sa).unwrap(), want, "owner = the worker RSS delivers it to");
    assert!(gw.writer().is_published(spi));

    // A rekey of tunnel 0's outbound SA: one switch, counted.
    let out_keys = KeyMaterial { spi: 0x3001, key: &[0x43; 16], salt: [5, 6, 7, 8] };
    let new_out = template.build(out_keys, SaDirection::Outbound, 0, gw.now_ns()).unwrap();
    let old = gw.rekey_outbound(0, new_out).unwrap().unwrap();
    assert_eq!(old.spi(), 0x1001);
    let json = gw.tunnels_json();
    assert_eq!((json[0].rekeys, json[0].sa[0].spi, json[0].sa.len()), (1, 0x3001, 3));
    assert_eq!(json[1].rekeys, 0);
    // A removal is no rekey; the exchange that brings the next SA into the empty place
    // is one (a clear, an INVALID_SPI repair: before, it went uncounted).
    let out_keys = KeyMaterial { spi: 0x3002, key: &[0x44; 16], salt: [5, 6, 7, 9] };
    let next_out = template.build(out_keys, SaDirection::Outbound, 0, gw.now_ns()).unwrap();
    assert_eq!(gw.switch_outbound(0, None).unwrap().map(|o| o.spi()), Some(0x3001));
    assert_eq!(gw.tunnels_json()[0].rekeys, 1);
    assert!(gw.rekey_outbound(0, next_out).unwrap().is_none());
    assert_eq!(gw.tunnels_json()[0].rekeys, 2);
    // Put the first one back for what follows (not a rekey: a plain switch).
    let out_keys = KeyMaterial { spi: 0x3001, key: &[0x43; 16], salt: [5, 6, 7, 8] };
    let again = template.build(out_keys, SaDirection::Outbound, 0, gw.now_ns()).unwrap();
    gw.switch_outbound(0, Some(again)).unwrap();
    assert_eq!(gw.tunnels_json()[0].rekeys, 2);

    // Workers: the peer of tunnel 0 sends the same ESP packet twice (window off: both
    // pass), a peer-channel datagram (punted), and the control core injects a frame.
    let (lan, wan) = (HeapPort::new(2), HeapPort::new(2));
    let peer = SaTemplate::new(&cfg.tunnels[0], Side::Peer, &[]);
    let peer_out =
        peer.build((&cfg.tunnels[0].inbound[0]).into(), SaDirection::Outbound, 0, 0).unwrap();
    let mut esp = HeapBuf::new(&inner(1));
    dataplane::encap(&mut esp, &peer_out, 1).unwrap();
    wan.inject(0, &eth(esp.data()));
    wan.inject(0, &eth(esp.data()));
    let mut hello = vec![0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 172, 16, 2, 5, 172, 16, 1, 5];
    hello.extend_from_slice(&[1, 0xf4, 1, 0xf4, 0, 12, 0, 0, 1, 2, 3, 4]);
    let c = dataplane::wire::checksum::of(&hello[..20]);
    hello[10..12].copy_from_slice(&c.to_be_bytes());
    wan.inject(1, &eth(&hello));
    gw.inject(&[0xee; 60]).unwrap();
    gw.send_to_peer(1, b"rekey-init").unwrap();
    let mut workers: Vec<_> = (0..2u16)
        .map(|w| {
            Worker::new(
                w,
                HeapIo::new(lan.clone(), wan.clone(), usize::from(w)),
                &shared,
                WorkerConf::default(),
            )
        })
        .collect();
    for _ in 0..4 {
        for w in workers.iter_mut() {
            w.poll(gw.now_ns(), true);
        }
    }
    let mut punted = Vec::new();
    gw.tick_with(
        |p| {
            let d = p.datagram().unwrap();
            punted.push((d.src, d.src_port, d.payload.to_vec()));
        },
        |_| {},
    );
    assert_eq!(punted, vec![("172.16.2.5".parse().unwrap(), 500, vec![1, 2, 3, 4])]);
    let c = gw.control_json();
    assert_eq!((c.punts_received, c.inbound_sas), (1, 3));
    assert_eq!(lan.take_all_sent().len(), 2, "the replay passed: anti-replay is off");
    let sent = wan.take_sent(0);
    assert_eq!(sent.len(), 2, "the injected frames, from worker 0");
    assert_eq!(sent[0], vec![0xee; 60]);
    let d = dataplane::gateway::datagram::parse(&sent[1][14..]).unwrap();
    assert_eq!(
        (d.src, d.dst, d.dst_port, d.payload),
        ("172.16.1.5".parse().unwrap(), "172.16.3.5".parse().unwrap(), 500, &b"rekey-init"[..])
    );
    assert_eq!(&sent[1][..6], &[2, 0, 0, 0, 1, 2], "tunnel b2's next hop");
    let mut total = dataplane::gateway::WorkerSnapshot::default();
    for s in shared.stats.iter() {
        total += &s.snapshot();
    }
    assert_eq!(total.counters.drops(DropReason::AntiReplay), 0);
    assert_eq!(
        (total.counters.events(Event::Punted), total.counters.events(Event::Injected)),
        (1, 2)
    );

    // Unpublishing releases the SPI into quarantine: it is not handed out again soon.
    let e = gw.unpublish_inbound(spi).unwrap();
    assert_eq!(e.owner, want);
    assert!(!gw.writer().is_published(spi));
    for _ in 0..1000 {
        assert_ne!(gw.spis(0).allocate(), Some(spi));
    }
}

/// Many tunnels: each tunnel's entry in the stats document lists its own SAs and only
/// them, in the order a per-tunnel filter gave (outbound, then inbound). The document
/// groups the inbound SAs in one pass; it used to filter all of them for every tunnel.
#[test]
fn the_stats_document_puts_each_sa_under_its_tunnel_at_scale() {
    use std::fmt::Write;
    let n = 2000u32;
    let mut text = String::from(
        "[gateway]\nprotected_port = 0\nunprotected_port = 1\nlocal = \"192.0.2.1\"\n",
    );
    for i in 0..n {
        let k = format!("{i:08x}");
        write!(
            text,
            "[[tunnel]]\nname = \"t{i}\"\npeer = \"{}\"\nnext_hop_mac = \"02:00:00:00:01:01\"\n\
             selectors = [\"{}/28\"]\n\
             [[tunnel.sa]]\ndir = \"out\"\nspi = {:#x}\naead = \"aes-128-gcm\"\n\
             key = \"{k}0011223344556677{k}\"\nsalt = \"c0ffee01\"\n\
             [[tunnel.sa]]\ndir = \"in\"\nspi = {:#x}\naead = \"aes-128-gcm\"\n\
             key = \"{k}8899aabbccddeeff{k}\"\nsalt = \"c0ffee02\"\n",
            std::net::Ipv4Addr::from(0xac10_0001 + i),
            std::net::Ipv4Addr::from(0x0a00_0000 + 16 * i),
            0x10_0000 + i,
            0x20_0000 + (n - 1 - i), // inbound SPIs in the opposite order to the tunnels
        )
        .unwrap();
    }
    let cfg = config::parse(&text, "big.toml").unwrap_or_else(|e| panic!("{e}"));
    let macs = [[2, 0, 0, 0, 0xaa, 0], [2, 0, 0, 0, 0xaa, 1]];
    let mut sharding = Sharding::new(2, 2, Some(rss()));
    let (writer, tunnels) = build::tables(&cfg, 2, macs, &mut sharding, 64).unwrap();
    let shared: Shared<HeapBuf> = Shared::new(writer.tables(), 2, 64, 16);
    let alloc = Box::new(|f: &[u8]| Some(HeapBuf::new(f)));
    let mut gw = GatewayControl::new(
        writer,
        &shared,
        sharding,
        build::spi_pool(&cfg),
        tunnels,
        Instant::now(),
        alloc,
    );
    build::publish_static(&mut gw, &cfg, 0, true).unwrap();
    let json = gw.tunnels_json();
    assert_eq!(json.len(), n as usize);
    for (i, t) in json.iter().enumerate() {
        let i = i as u32;
        assert_eq!(t.name, format!("t{i}"));
        let spis: Vec<u32> = t.sa.iter().map(|s| s.spi).collect();
        assert_eq!(spis, [0x10_0000 + i, 0x20_0000 + (n - 1 - i)], "tunnel t{i}");
    }
}
