//! The generator's timeline: per stream and per bucket of time (100 ms by default) the
//! packets sent and received, and the packets lost *by the time they were sent*, so a
//! rekey benchmark or the demo can show when loss happened, not only how much.
//!
//! Send-time attribution works on sequence numbers: at the start of each bucket the
//! sender's next sequence number is noted per stream, so a lost number maps back to its
//! bucket with a binary search. Received packets are counted in the bucket they arrive in.

/// Per-stream, per-bucket counts.
#[derive(Debug, Clone)]
pub struct Timeline {
    bucket_ticks: u64,
    start_tsc: u64,
    /// Per stream: the first sequence number sent in each bucket.
    first_seq: Vec<Vec<u64>>,
    /// Per stream: packets received in each bucket (by arrival time).
    received: Vec<Vec<u64>>,
    /// Per stream: packets lost, by the bucket they were sent in.
    lost: Vec<Vec<u64>>,
}

/// One stream's timeline, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StreamTimeline {
    /// Packets sent in each bucket.
    pub sent: Vec<u64>,
    /// Packets received in each bucket.
    pub received: Vec<u64>,
    /// Packets lost, by the bucket they were sent in.
    pub lost: Vec<u64>,
}

impl Timeline {
    /// A timeline of `streams` streams starting at `start_tsc`, buckets `bucket_ticks`
    /// TSC ticks long.
    pub fn new(streams: usize, start_tsc: u64, bucket_ticks: u64) -> Timeline {
        Timeline {
            bucket_ticks: bucket_ticks.max(1),
            start_tsc,
            first_seq: vec![Vec::new(); streams],
            received: vec![Vec::new(); streams],
            lost: vec![Vec::new(); streams],
        }
    }

    /// The bucket of TSC time `tsc`.
    #[inline]
    pub fn bucket_of(&self, tsc: u64) -> usize {
        (tsc.saturating_sub(self.start_tsc) / self.bucket_ticks) as usize
    }

    /// Notes the sender's next sequence number of `stream` at time bucket `b` (call with
    /// non-decreasing `b`; buckets skipped in between get the same number: nothing sent).
    #[inline]
    pub fn at_send(&mut self, stream: usize, b: usize, next_seq: u64) {
        let v = &mut self.first_seq[stream];
        while v.len() <= b {
            v.push(next_seq);
        }
    }

    /// Counts one packet of `stream` received in bucket `b`.
    #[inline]
    pub fn at_receive(&mut self, stream: usize, b: usize) {
        let v = &mut self.received[stream];
        if v.len() <= b {
            v.resize(b + 1, 0);
        }
        v[b] += 1;
    }

    /// Attributes the loss of `n` consecutive sequence numbers from `first` of `stream`
    /// to the buckets they were sent in.
    pub fn lose(&mut self, stream: usize, first: u64, n: u64) {
        let starts = &self.first_seq[stream];
        let lost = &mut self.lost[stream];
        let (mut s, end) = (first, first + n);
        while s < end {
            // The last bucket whose first sequence number is <= s (bucket 0 if none yet).
            let b = starts.partition_point(|&x| x <= s).saturating_sub(1);
            let bucket_end = starts.get(b + 1).copied().unwrap_or(u64::MAX).max(s + 1);
            let take = bucket_end.min(end) - s;
            if lost.len() <= b {
                lost.resize(b + 1, 0);
            }
            lost[b] += take;
            s += take;
        }
    }

    /// Number of buckets with anything in them.
    pub fn len(&self) -> usize {
        let m = |v: &Vec<Vec<u64>>| v.iter().map(Vec::len).max().unwrap_or(0);
        m(&self.first_seq).max(m(&self.received)).max(m(&self.lost))
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The timeline of `stream`, `n` buckets long; `sent_total` is what the stream sent in
    /// all (closes the last bucket).
    pub fn stream(&self, stream: usize, n: usize, sent_total: u64) -> StreamTimeline {
        let starts = &self.first_seq[stream];
        let sent = (0..n)
            .map(|b| {
                let from = starts.get(b).copied().unwrap_or(sent_total).min(sent_total);
                let to = starts.get(b + 1).copied().unwrap_or(sent_total).min(sent_total);
                to - from
            })
            .collect();
        let pad = |v: &Vec<u64>| {
            let mut v = v.clone();
            v.resize(n, 0);
            v
        };
        StreamTimeline {
            sent,
            received: pad(&self.received[stream]),
            lost: pad(&self.lost[stream]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_land_in_the_bucket_they_were_sent_in() {
        let mut t = Timeline::new(1, 1000, 10);
        // Bucket 0 sends 0..100, bucket 1 nothing, bucket 2 sends 100..250, bucket 3 250...
        t.at_send(0, 0, 0);
        t.at_send(0, 2, 100);
        t.at_send(0, 3, 250);
        assert_eq!(t.bucket_of(1000), 0);
        assert_eq!(t.bucket_of(1029), 2);
        assert_eq!(t.bucket_of(5), 0);
        t.lose(0, 95, 10); // 95..100 in bucket 0, 100..105 in bucket 2
        t.lose(0, 300, 1);
        t.at_receive(0, 4);
        let s = t.stream(0, 5, 400);
        assert_eq!(s.sent, vec![100, 0, 150, 150, 0]);
        assert_eq!(s.lost, vec![5, 0, 5, 1, 0]);
        assert_eq!(s.received, vec![0, 0, 0, 0, 1]);
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn loss_before_any_send_mark_goes_to_bucket_zero() {
        let mut t = Timeline::new(2, 0, 1);
        t.lose(1, 0, 3);
        assert_eq!(t.stream(1, 1, 3).lost, vec![3]);
        assert_eq!(
            t.stream(0, 1, 0),
            StreamTimeline { sent: vec![0], received: vec![0], lost: vec![0] }
        );
    }
}
