//! Two gateways joined by net_memif, two workers each: LAN traffic of gateway B is
//! encrypted by B, crosses the memif link, is decrypted by gateway A and arrives on A's
//! LAN complete, with its TTL two lower. B's LAN traffic is dealt over both rx queues, so
//! half of it reaches B's tunnel owner through a handoff; the memif link has two queue
//! pairs, and what B's tunnel owner sends on its queue arrives on A's queue of the same
//! index, whose worker does not own A's inbound SA: the ESP crosses A's handoff rings too.
//! Nothing may be lost or dropped.
//!
//! Why one way: a memif server cannot transmit until its client has polled its rx queues
//! once (the client supplies the server's tx slots), and both gateways start forwarding
//! as soon as the link is up; traffic from the server at start would race that first poll
//! and be counted `TxFull`. B is the client, so its traffic never waits for anyone. The
//! other direction is the same code (the net_pcap tests run both ways).
#![forbid(unsafe_code)]

use std::path::Path;

use qfp_tests::gateway::GatewayDef;
use qfp_tests::stats::Stats;
use qfp_tests::{EalArgs, Qfp, TempDir, exclusive, frames::inet_checksum, pcap};

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// An Ethernet + IPv4 + UDP frame from `src` to `dst` carrying `tag`.
fn frame(src: [u8; 4], dst: [u8; 4], tag: u32, size: usize) -> Vec<u8> {
    let payload_len = size.max(64) - 14 - 28;
    let total = 28 + payload_len;
    let mut f = vec![2, 0, 0, 0, 0x0e, 0xff, 2, 0, 0, 0, 0x0e, 0x02, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, 0, (tag >> 8) as u8, tag as u8, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&(2000 + (tag % 1000) as u16).to_be_bytes());
    f.extend_from_slice(&45678u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&tag.to_be_bytes());
    f.extend((4..payload_len).map(|i| (tag as usize * 7 + i) as u8));
    f
}

/// The IP packet of `f` as two routers forward it: TTL two lower, checksum updated.
fn twice_forwarded(f: &[u8]) -> Vec<u8> {
    let mut ip = f[14..].to_vec();
    ip[8] -= 2;
    ip[10] = 0;
    ip[11] = 0;
    let c = inet_checksum(&ip[..20]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

#[test]
fn two_gateways_over_memif_hand_off_and_lose_nothing() {
    let _one_at_a_time = exclusive();
    let dir = TempDir::new("memif");
    let a = GatewayDef::single();
    let b = a.mirror();
    std::fs::write(dir.join("a.toml"), a.config_toml(1024)).unwrap();
    std::fs::write(dir.join("b.toml"), b.config_toml(1024)).unwrap();
    // A's LAN is 192.168.115.0/24, B's 192.168.105.0/24; B's LAN sends, dealt over 2 files.
    let n = 300u32;
    let frames: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            frame(
                [192, 168, 105, 9],
                [192, 168, 115, 1 + (i % 250) as u8],
                i,
                64 + (i as usize * 37) % 1300,
            )
        })
        .collect();
    for q in 0..2 {
        let part: Vec<Vec<u8>> = frames.iter().skip(q).step_by(2).cloned().collect();
        pcap::write(&dir.join(&format!("b-lan-{q}.pcap")), &part);
        pcap::write(&dir.join(&format!("a-lan-{q}.pcap")), &[]);
    }
    let want = sorted(frames.iter().map(|f| twice_forwarded(f)).collect());
    let socket = dir.join("memif.sock");
    let gateway = |side: &str, role: &str| {
        let lan = format!(
            "net_pcap0,rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}",
            p(&dir.join(&format!("{side}-lan-0.pcap"))),
            p(&dir.join(&format!("{side}-lan-1.pcap"))),
            p(&dir.join(&format!("{side}-out-0.pcap"))),
            p(&dir.join(&format!("{side}-out-1.pcap")))
        );
        let wan = format!("net_memif1,role={role},socket={},id=0", p(&socket));
        let eal = EalArgs::new().vdev(lan).vdev(wan);
        let cfg = p(&dir.join(&format!("{side}.toml")));
        let stats = p(&dir.join(&format!("{side}.json")));
        Qfp::run(["-c", &cfg, "--workers", "2", "--duration", "4", "--stats-json", &stats], &eal)
    };
    let ra = gateway("a", "server").spawn();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rb = gateway("b", "client").spawn();
    let (oa, ob) = (ra.wait(), rb.wait());
    oa.assert_success();
    ob.assert_success();

    let n64 = u64::from(n);
    let (sa, sb) = (Stats::read(&dir.join("a.json")), Stats::read(&dir.join("b.json")));
    for (side, s, out) in [("a", &sa, &oa), ("b", &sb, &ob)] {
        assert_eq!(s.in_flight(), 0, "{side}: received = sent + dropped + consumed");
        assert_eq!(s.total_drops(), 0, "{side}: no drop: {:?}\n{}", s.drops, out.stderr);
        let handed: u64 = s.workers.iter().map(|w| w.handed_off).sum();
        let received: u64 = s.workers.iter().map(|w| w.handoff_received).sum();
        assert!(handed >= n64 / 4, "{side}: packets crossed the handoff rings: {:?}", s.workers);
        assert_eq!(handed, received, "{side}");
    }
    assert_eq!((sb.outbound.encrypted, sa.inbound.decrypted), (n64, n64));
    // (net_memif's own port counters are not reliable per queue: the workers' are used.)
    let b_sent: u64 = sb.workers.iter().map(|w| w.tx).sum();
    let a_received: u64 = sa.workers.iter().map(|w| w.rx).sum();
    assert_eq!((b_sent, a_received, sa.port(0).tx), (n64, n64, n64));
    let mut got = Vec::new();
    let mac_a = mac(sa.port(0).mac.as_deref().unwrap());
    for q in 0..2 {
        for f in pcap::read(&dir.join(&format!("a-out-{q}.pcap"))) {
            assert_eq!(&f[6..12], mac_a.as_slice(), "A's protected MAC");
            assert_eq!(&f[..6], &[2, 0, 0, 0, 0, 1], "A's route to its LAN");
            got.push(f[14..].to_vec());
        }
    }
    assert_eq!(got.len(), n as usize, "every packet of B's LAN arrived");
    assert!(sorted(got) == want, "the packets are B's LAN's, TTL two lower");
}

fn mac(s: &str) -> Vec<u8> {
    s.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}
