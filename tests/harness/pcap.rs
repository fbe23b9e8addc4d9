//! Capture files: read pcap or pcapng (what DPDK's net_pcap, scapy and tshark write),
//! write classic pcap (what net_pcap's rx_pcap reads). Uses the `pcap-file` crate, which
//! knows both formats, both byte orders and nanosecond timestamps.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};

/// Writes `frames` as an Ethernet pcap, 1 µs apart.
pub fn write(path: &Path, frames: &[Vec<u8>]) {
    let f = File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    let mut w = PcapWriter::new(BufWriter::new(f)).expect("pcap header");
    for (i, fr) in frames.iter().enumerate() {
        let p = PcapPacket::new(Duration::from_micros(i as u64), fr.len() as u32, fr);
        w.write_packet(&p).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// Reads every frame of a pcap or pcapng file, in order. A missing, truncated or
/// malformed file fails the test.
pub fn read(path: &Path) -> Vec<Vec<u8>> {
    let mut magic = [0u8; 4];
    let mut f = File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    f.read_exact(&mut magic)
        .unwrap_or_else(|e| panic!("{}: too short for a capture file: {e}", path.display()));
    let f = File::open(path).expect("reopen");
    let mut out = Vec::new();
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut r = PcapNgReader::new(BufReader::new(f))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        while let Some(b) = r.next_block() {
            match b.unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
                Block::EnhancedPacket(p) => out.push(p.data.into_owned()),
                Block::SimplePacket(p) => out.push(p.data.into_owned()),
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(BufReader::new(f))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        while let Some(p) = r.next_packet() {
            out.push(p.unwrap_or_else(|e| panic!("{}: {e}", path.display())).data.into_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_gives_the_same_frames() {
        let dir = crate::TempDir::new("pcap");
        let frames = vec![vec![1u8; 60], vec![2u8; 1514], vec![3u8; 64]];
        write(&dir.join("a.pcap"), &frames);
        assert_eq!(read(&dir.join("a.pcap")), frames);
        write(&dir.join("empty.pcap"), &[]);
        assert!(read(&dir.join("empty.pcap")).is_empty());
    }
}
