//! Capture files that drive a gateway: plain frames for its protected port and ESP frames
//! for its unprotected port, built with the data plane's own [`dataplane::encap`].
//!
//! This module knows flows, sizes, MACs and an outbound [`Sa`]; it does not know the
//! config file. `qfp pcap` (in `ctrl`) turns a config into [`StreamSpec`]s — which
//! prefixes, which MACs, which tunnel's keys — and calls [`write`] once per file. Frames
//! are streamed to the file as they are built, so a million-packet capture needs no more
//! memory than one frame.
//!
//! Frame `i` of a file belongs to flow `i % flows`, has the size `size.frame(i, v6)` and carries
//! the load header with sequence number `i` (TSC 0); its IPv4 Identification is `i as
//! u16`. An ESP frame is that same inner packet encapsulated by the SA, which numbers
//! packets from its own counter: build the SA with `initial_seq = start - 1`. Timestamps in
//! the file are 1 µs apart.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dataplane::wire::eth;
use dataplane::{HeapBuf, PacketBuf, Sa, encap};
use pcap_file::pcap::{PcapPacket, PcapWriter};

use crate::payload::{ETH_OVERHEAD, FrameSize, Header};
use crate::traffic::{self, FlowSet};

/// One direction of traffic as it appears on one port of the gateway.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec<'a> {
    /// Stream id in the load header.
    pub stream: u8,
    /// The inner flows.
    pub flows: FlowSet,
    /// Destination MAC of every frame.
    pub dst_mac: [u8; 6],
    /// Source MAC of every frame.
    pub src_mac: [u8; 6],
    /// Encapsulate the inner packet with this outbound SA (ESP frames), or not (plain).
    pub seal: Option<&'a Sa>,
}

/// Why a capture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A frame size is out of range for the flows' family.
    #[error("--sizes: {0}")]
    Size(String),
    /// The ESP packet of the largest frame would exceed the tunnel MTU.
    #[error(
        "a {size}-byte frame carries a {inner}-byte inner packet, more than the {max} bytes SPI {spi:#x} \
         can encapsulate within the tunnel MTU of {mtu} (raise the tunnel's mtu, e.g. to 9000 for benchmarks, \
         or use smaller sizes)"
    )]
    TooBig {
        /// Frame size.
        size: u16,
        /// Inner IP packet length.
        inner: usize,
        /// Largest inner packet the SA takes.
        max: usize,
        /// SPI.
        spi: u32,
        /// Tunnel MTU.
        mtu: u16,
    },
    /// The data plane refused a packet (sequence numbers exhausted, ...).
    #[error("frame {index}: encapsulation refused: {reason}")]
    Encap {
        /// Frame index.
        index: u64,
        /// The drop reason.
        reason: dataplane::DropReason,
    },
    /// Writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Checks, before anything is written, that every frame of `size` can be built for `spec`.
pub fn check(spec: &StreamSpec<'_>, size: FrameSize) -> Result<(), Error> {
    size.check(spec.flows.is_v6()).map_err(Error::Size)?;
    if let Some(sa) = spec.seal {
        let inner = usize::from(size.max()) - ETH_OVERHEAD;
        if inner > sa.max_inner_len() {
            return Err(Error::TooBig {
                size: size.max(),
                inner,
                max: sa.max_inner_len(),
                spi: sa.spi(),
                mtu: sa.tunnel().mtu,
            });
        }
    }
    Ok(())
}

/// Frame `i` of the stream (plain, or sealed by the SA, which advances its sequence number).
pub fn frame(spec: &StreamSpec<'_>, size: FrameSize, i: u64) -> Result<Vec<u8>, Error> {
    let flow = spec.flows.flow(i);
    let hdr = Header { stream: spec.stream, seq: i, tsc: 0 };
    let ip = traffic::ip_packet(&flow, size.frame(i, spec.flows.is_v6()), &hdr, i as u16);
    let Some(sa) = spec.seal else {
        return Ok(traffic::ethernet(spec.dst_mac, spec.src_mac, &ip));
    };
    let mut buf = HeapBuf::with_room(&ip, 128, 128);
    encap(&mut buf, sa, 0).map_err(|reason| Error::Encap { index: i, reason })?;
    // The outer packet is IPv4 or IPv6 by the SA's endpoints: `ethernet` reads the version.
    let f = traffic::ethernet(spec.dst_mac, spec.src_mac, buf.data());
    debug_assert!(f.len() > eth::HEADER_LEN);
    Ok(f)
}

/// Writes `count` frames of `spec` in `size` to `path` (classic pcap, Ethernet, µs
/// timestamps). Returns the bytes of frames written (without FCS).
pub fn write(
    path: &Path,
    spec: &StreamSpec<'_>,
    size: FrameSize,
    count: u64,
) -> Result<u64, Error> {
    write_interleaved(path, std::slice::from_ref(spec), size, count)
}

/// Writes `count` frames to `path`, frame `i` from `specs[i % specs.len()]` (its
/// `i / specs.len()`-th frame): the streams of several tunnels interleaved, so that
/// consecutive frames belong to different SAs (`qfp pcap --all-tunnels`, for the scale
/// benchmark). Every spec is checked before anything is written. Returns the bytes of
/// frames written (without FCS).
pub fn write_interleaved(
    path: &Path,
    specs: &[StreamSpec<'_>],
    size: FrameSize,
    count: u64,
) -> Result<u64, Error> {
    for spec in specs {
        check(spec, size)?;
    }
    let n = specs.len().max(1) as u64;
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let file = File::create(path).map_err(io)?;
    let mut w = PcapWriter::new(BufWriter::new(file)).map_err(|e| io(pcap_io(e)))?;
    let mut bytes = 0u64;
    for i in 0..count {
        let f = frame(&specs[(i % n) as usize], size, i / n)?;
        bytes += f.len() as u64;
        let p = PcapPacket::new(Duration::from_micros(i), f.len() as u32, &f);
        w.write_packet(&p).map_err(|e| io(pcap_io(e)))?;
    }
    let mut inner = w.into_writer();
    std::io::Write::flush(&mut inner).map_err(io)?;
    Ok(bytes)
}

fn pcap_io(e: pcap_file::PcapError) -> std::io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::sa::{Endpoints, Lifetime, Tunnel};
    use dataplane::selector::Selectors;
    use dataplane::{SaConfig, SaDirection, decap};

    fn sa(dir: SaDirection, mtu: u16, initial_seq: u64) -> Sa {
        let (a, b) = ("172.16.2.5".parse().unwrap(), "172.16.1.5".parse().unwrap());
        let (local, remote) = if dir == SaDirection::Outbound { (a, b) } else { (b, a) };
        Sa::new(SaConfig {
            spi: 0x2001,
            direction: dir,
            key: &[7u8; 16],
            salt: [1, 2, 3, 4],
            esn: true,
            tunnel: Tunnel { endpoints: Endpoints::V4 { local, remote }, natt: None, mtu },
            selectors: Selectors::any(),
            lifetime: Lifetime::UNLIMITED,
            replay_window: 64,
            created_ns: 0,
            initial_seq,
        })
        .unwrap()
    }

    fn flows() -> FlowSet {
        FlowSet::new("192.168.105.0/24".parse().unwrap(), "192.168.115.0/24".parse().unwrap(), 5)
            .unwrap()
    }

    #[test]
    fn esp_frames_decap_to_the_plain_packets_with_fresh_sequence_numbers() {
        let out = sa(SaDirection::Outbound, 9000, 99);
        let inb = [sa(SaDirection::Inbound, 9000, 0)];
        let f = flows();
        let esp =
            StreamSpec { stream: 1, flows: f, dst_mac: [2; 6], src_mac: [4; 6], seal: Some(&out) };
        let plain = StreamSpec { seal: None, ..esp };
        for i in 0..30u64 {
            let e = frame(&esp, FrameSize::Imix, i).unwrap();
            let p = frame(&plain, FrameSize::Imix, i).unwrap();
            assert_eq!(p.len(), usize::from(FrameSize::Imix.of(i)) - 4);
            assert_eq!((&e[..6], &e[6..12]), (&[2u8; 6][..], &[4u8; 6][..]));
            let mut b = HeapBuf::new(&e[14..]);
            match decap(&mut b, &inb[..], 0).unwrap() {
                dataplane::Decapped::Inner { seq, .. } => assert_eq!(seq, 100 + i),
                other => panic!("{other:?}"),
            }
            assert_eq!(b.data(), &p[14..], "frame {i}");
        }
    }

    #[test]
    fn too_big_for_the_mtu_is_refused_before_writing() {
        let out = sa(SaDirection::Outbound, 1500, 0);
        let spec = StreamSpec {
            stream: 1,
            flows: flows(),
            dst_mac: [2; 6],
            src_mac: [4; 6],
            seal: Some(&out),
        };
        assert!(check(&spec, FrameSize::Fixed(1400)).is_ok());
        let e = check(&spec, FrameSize::Imix).unwrap_err().to_string();
        assert!(e.contains("1500-byte frame") && e.contains("MTU of 1500"), "{e}");
        assert!(matches!(check(&spec, FrameSize::Fixed(20)), Err(Error::Size(_))));
    }

    #[test]
    fn write_streams_every_frame() {
        let dir = std::env::temp_dir().join(format!("perf-pcapgen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.pcap");
        let spec =
            StreamSpec { stream: 0, flows: flows(), dst_mac: [2; 6], src_mac: [4; 6], seal: None };
        let bytes = write(&path, &spec, FrameSize::Fixed(64), 100).unwrap();
        assert_eq!(bytes, 6000);
        let mut r = pcap_file::pcap::PcapReader::new(File::open(&path).unwrap()).unwrap();
        let mut n = 0u64;
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            let got = traffic::parse_frame(&p.data, true).unwrap();
            assert_eq!((got.header.stream, got.header.seq), (0, n));
            n += 1;
        }
        assert_eq!(n, 100);
        let e = write(&dir.join("no/such/dir.pcap"), &spec, FrameSize::Fixed(64), 1).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
