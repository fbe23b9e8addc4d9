//! The control side's fuzz targets (`fuzz/src/ctrl_targets.rs`, included here) in the
//! default suite: every committed seed and every saved finding under
//! `fuzz/regressions/{config,peer_msg,peer_open}/` is replayed through the same code
//! libFuzzer runs, so a fixed crash can never come back unnoticed. The peer seeds must be
//! exactly what this file generates (one message of every type), so they stay valid.
//!
//! To regenerate the seeds: `QFP_WRITE_FUZZ_SEEDS=1 cargo test -p ctrl --test fuzz_regressions`.

#[path = "../../fuzz/src/ctrl_targets.rs"]
#[allow(dead_code)]
mod ctrl_targets;

use ctrl::peer::Aead;
use ctrl::peer::msg::{
    Ack, AckStatus, AddrPair, Body, Delete, DeleteEntry, Hello, InvalidSpi, Message, MsgType,
    RekeyDone, RekeyInit, RekeyResp, SpiSide,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn messages() -> Vec<(&'static str, Body)> {
    vec![
        (
            "rekey-init",
            Body::RekeyInit(RekeyInit {
                nonce: [0x11; 32],
                public: [0x22; 32],
                spi: 0x1001,
                aead: Aead::Aes256Gcm,
                esn: true,
            }),
        ),
        (
            "rekey-resp",
            Body::RekeyResp(RekeyResp {
                echo: 41,
                nonce: [0x33; 32],
                public: [0x44; 32],
                spi: 0x2002,
            }),
        ),
        ("rekey-done", Body::RekeyDone(RekeyDone { spi_i: 0x1001, spi_r: 0x2002 })),
        (
            "delete",
            Body::Delete(Delete {
                entries: vec![
                    DeleteEntry { side: SpiSide::Sender, spi: 0x1001 },
                    DeleteEntry { side: SpiSide::Receiver, spi: 0x2002 },
                ],
            }),
        ),
        (
            "invalid-spi-v4",
            Body::InvalidSpi(InvalidSpi {
                spi: 0xb761_863e,
                addrs: AddrPair::V4 { src: [10, 1, 1, 1].into(), dst: [20, 1, 1, 2].into() },
            }),
        ),
        (
            "invalid-spi-v6",
            Body::InvalidSpi(InvalidSpi {
                spi: 0x34,
                addrs: AddrPair::V6 {
                    src: "2001:db8::1".parse().unwrap(),
                    dst: "2001:db8::2".parse().unwrap(),
                },
            }),
        ),
        ("hello", Body::Hello(Hello { epoch: 1 << 40 })),
        ("ack", Body::Ack(Ack { echo: 42, acked: MsgType::RekeyDone, status: AckStatus::Unknown })),
    ]
}

/// Seeds per target: name -> bytes.
fn generate() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let k = ctrl_targets::key();
    let mut msg = BTreeMap::new();
    let mut open = BTreeMap::new();
    for (i, (name, body)) in messages().into_iter().enumerate() {
        let m = Message { tunnel_id: ctrl_targets::TUNNEL, msg_id: 100 + i as u64, body };
        msg.insert(name.to_string(), m.to_bytes(&k));
        let mut signed = Vec::new();
        m.emit_signed_part(&mut signed);
        open.insert(name.to_string(), signed);
    }
    let mut config = BTreeMap::new();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/qfp.toml");
    config.insert("example.toml".to_string(), std::fs::read(example).unwrap());
    let mut out = BTreeMap::new();
    out.insert("peer_msg", msg);
    out.insert("peer_open", open);
    out.insert("config", config);
    out
}

fn files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "README.md" && e.file_type().unwrap().is_file() {
                m.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    m
}

#[test]
fn committed_seeds_are_the_generated_ones() {
    let write = std::env::var("QFP_WRITE_FUZZ_SEEDS").is_ok_and(|v| v == "1");
    for (target, seeds) in &generate() {
        let dir = fuzz_dir().join("seeds").join(target);
        if write {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        let have = files(&dir);
        assert_eq!(
            have.keys().collect::<Vec<_>>(),
            seeds.keys().collect::<Vec<_>>(),
            "fuzz/seeds/{target}: regenerate with QFP_WRITE_FUZZ_SEEDS=1"
        );
        for (name, bytes) in seeds {
            assert_eq!(&have[name], bytes, "fuzz/seeds/{target}/{name} is stale");
        }
    }
}

/// The seeds must reach the end of their target: a seed that fails early would only
/// exercise the first checks.
#[test]
fn seeds_are_accepted() {
    let k = ctrl_targets::key();
    let seeds = generate();
    for (name, d) in &seeds["peer_msg"] {
        let mut w = ctrl::peer::auth::ReplayWindow::default();
        ctrl::peer::auth::open(d, ctrl_targets::TUNNEL, &k, &mut w)
            .unwrap_or_else(|e| panic!("seed {name}: {e:?}"));
    }
    for (name, text) in &seeds["config"] {
        ctrl::config::parse(std::str::from_utf8(text).unwrap(), "qfp.toml")
            .unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
}

#[test]
fn seeds_and_saved_findings_replay_through_the_targets() {
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 3] = [
        ("config", ctrl_targets::config_target),
        ("peer_msg", ctrl_targets::peer_msg_target),
        ("peer_open", ctrl_targets::peer_open_target),
    ];
    let mut n = 0;
    for sub in ["seeds", "regressions"] {
        for (target, run) in targets {
            for (name, bytes) in files(&fuzz_dir().join(sub).join(target)) {
                eprintln!("{target} {sub}/{name}");
                run(&bytes);
                n += 1;
            }
        }
    }
    assert!(n >= 17, "only {n} seeds found under fuzz/");
}

/// The targets check what they claim: a tampered datagram is refused, a bad config names
/// its file (so a target that silently accepted everything would fail here).
#[test]
fn targets_reject_what_they_must() {
    let k = ctrl_targets::key();
    let m = Message {
        tunnel_id: ctrl_targets::TUNNEL,
        msg_id: 5,
        body: Body::Hello(Hello { epoch: 9 }),
    };
    let mut d = m.to_bytes(&k);
    d[25] ^= 0x80;
    let mut w = ctrl::peer::auth::ReplayWindow::default();
    assert!(matches!(
        ctrl::peer::auth::open(&d, ctrl_targets::TUNNEL, &k, &mut w),
        Err(ctrl::peer::auth::Reject::Forged)
    ));
    let e = ctrl::config::parse("[gateway]\nprotected_port = \"x\"\n", ctrl_targets::CONFIG_NAME)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(ctrl_targets::CONFIG_NAME), "{e}");
    // And the targets themselves take such inputs without complaint.
    ctrl_targets::peer_msg_target(&d);
    ctrl_targets::config_target(b"[gateway]\nprotected_port = \"x\"\n");
}
