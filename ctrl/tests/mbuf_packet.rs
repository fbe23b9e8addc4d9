//! `MbufPacket` behaves exactly like `HeapBuf` under the `PacketBuf` trait: the same
//! generic edit sequence gives the same bytes, lengths and room on both. Needs a real EAL
//! (`--no-huge`), so it is a test binary of its own (the EAL starts once per process).
#![forbid(unsafe_code)]

use ctrl::mbuf::MbufPacket;
use dataplane::buf::{HeapBuf, NoRoom, PacketBuf};
use dpdk_sys::{DEFAULT_DATA_ROOM, Eal, Mbuf, Mempool, SOCKET_ANY};

/// An ESP-like edit: outer header in front, trailer at the back, then undo it.
fn edit<P: PacketBuf>(p: &mut P) -> Vec<(usize, usize, usize, Vec<u8>)> {
    let mut trace = Vec::new();
    let note = |p: &P| (p.len(), p.headroom(), p.tailroom(), p.data().to_vec());
    trace.push(note(p));
    p.prepend(20).unwrap();
    p.data_mut()[..20].copy_from_slice(&[0x45; 20]);
    trace.push(note(p));
    p.append(18).unwrap();
    let n = p.len();
    p.data_mut()[n - 18..].copy_from_slice(&[0xee; 18]);
    trace.push(note(p));
    assert_eq!(p.prepend(p.headroom() + 1), Err(NoRoom));
    assert_eq!(p.append(p.tailroom() + 1), Err(NoRoom));
    assert_eq!(p.trim(p.len() + 1), Err(NoRoom));
    assert_eq!(p.adj(p.len() + 1), Err(NoRoom));
    p.adj(20).unwrap();
    p.trim(18).unwrap();
    trace.push(note(p));
    assert!(!p.is_empty());
    trace
}

#[test]
fn mbuf_packet_matches_heap_buf() {
    let eal = Eal::init([
        "mbuf-packet-test",
        "--no-huge",
        "-m",
        "128",
        "--no-pci",
        &format!("--file-prefix=qfp-mbuf-test-{}", std::process::id()),
        "--lcores=0",
        "--log-level=*:warning",
    ])
    .unwrap();
    let pool = Mempool::pktmbuf(&eal, "t", 63, 0, DEFAULT_DATA_ROOM, SOCKET_ANY).unwrap();
    let payload: Vec<u8> = (0..100).collect();

    let mut m = MbufPacket::from(Mbuf::from_slice(&pool, &payload).unwrap());
    let mut h = HeapBuf::new(&payload);
    assert_eq!(edit(&mut m), edit(&mut h));
    assert_eq!(m.data(), &payload[..]);
    assert_eq!(m.into_inner().data(), &payload[..]);
    assert_eq!(pool.in_use(), 0, "the mbuf went back to the pool");
    let runtime = eal.runtime_dir();
    drop(eal);
    let _ = std::fs::remove_dir_all(runtime);
}
