//! Stress test of the publication path: readers hammer `load` while a writer replaces the
//! value as fast as it can. Each value carries a canary that its destructor poisons; a reader
//! that ever saw a freed value (use after free) would read the poison or a torn pair. The
//! test also checks that every replaced value is eventually freed (no leak).
#![forbid(unsafe_code)]

use qfp_epoch::{Published, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const LIVE: u64 = 0x5157_4650_4c49_5645;
const DEAD: u64 = 0xdead_dead_dead_dead;

struct Sa {
    canary: AtomicU64,
    generation: u64,
    // Two copies of the generation: a reader must see them equal (no half-built object).
    check: u64,
    freed: Arc<AtomicU64>,
}

impl Drop for Sa {
    fn drop(&mut self) {
        self.canary.store(DEAD, Ordering::SeqCst);
        self.freed.fetch_add(1, Ordering::SeqCst);
    }
}

fn sa(generation: u64, freed: &Arc<AtomicU64>) -> Sa {
    Sa { canary: AtomicU64::new(LIVE), generation, check: !generation, freed: freed.clone() }
}

#[test]
fn readers_never_see_a_freed_or_torn_value() {
    let freed = Arc::new(AtomicU64::new(0));
    let table = Arc::new(Published::new(sa(0, &freed)));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (table, stop) = (table.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut loads, mut last) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    // One pin per "burst" of loads, as the workers do.
                    let guard = pin();
                    for _ in 0..32 {
                        let v = table.load(&guard);
                        assert_eq!(v.canary.load(Ordering::SeqCst), LIVE, "use after free");
                        assert_eq!(v.check, !v.generation, "torn value");
                        assert!(v.generation >= last, "went back in time");
                        last = v.generation;
                        loads += 1;
                    }
                }
                loads
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut generation = 0;
    while Instant::now() < deadline {
        generation += 1;
        table.replace(sa(generation, &freed));
    }
    stop.store(true, Ordering::Relaxed);
    let loads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(generation > 1000, "writer made too little progress to mean anything: {generation}");
    assert!(loads > 1000, "readers made too little progress to mean anything: {loads}");
    drop(Arc::try_unwrap(table).ok().expect("readers are gone"));
    for _ in 0..100_000 {
        if freed.load(Ordering::SeqCst) == generation + 1 {
            break;
        }
        pin().flush();
        std::thread::yield_now();
    }
    assert_eq!(freed.load(Ordering::SeqCst), generation + 1, "values leaked");
}

/// The same hammering with a reclaimer: every replaced value comes back to the writer and
/// is dropped there (or, if the queue was full, dropped in place and counted), readers
/// never see a freed value, and nothing leaks.
#[test]
fn with_a_reclaimer_old_values_die_on_the_writer_thread() {
    let freed = Arc::new(AtomicU64::new(0));
    let reclaim = qfp_epoch::Reclaimer::new(256);
    let table = Arc::new(Published::with_reclaimer(sa(0, &freed), reclaim.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (table, stop) = (table.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut loads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let guard = pin();
                    for _ in 0..32 {
                        let v = table.load(&guard);
                        assert_eq!(v.canary.load(Ordering::SeqCst), LIVE, "use after free");
                        assert_eq!(v.check, !v.generation, "torn value");
                        loads += 1;
                    }
                }
                loads
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    let (mut generation, mut drained) = (0u64, 0u64);
    while Instant::now() < deadline {
        generation += 1;
        table.replace(sa(generation, &freed));
        if generation % 64 == 0 {
            drained += reclaim.drain() as u64;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let loads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(generation > 1000 && loads > 1000, "too little progress: {generation} {loads}");
    for _ in 0..100_000 {
        qfp_epoch::collect(1);
        drained += reclaim.drain() as u64;
        let s = reclaim.stats();
        if s.handed_back + s.dropped_in_place == generation {
            break;
        }
    }
    let s = reclaim.stats();
    assert_eq!(s.handed_back + s.dropped_in_place, generation, "{s:?}");
    assert_eq!(drained, s.handed_back, "every handed-back value was drained here");
    drop(Arc::try_unwrap(table).ok().expect("readers are gone"));
    assert_eq!(freed.load(Ordering::SeqCst), generation + 1, "values leaked");
}
