//! The bridge's counters, printed when it stops (text on stderr; JSON on stdout with
//! `--stats`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one bridge process. Each is updated by one thread and read at the end, so
/// Relaxed is enough: the final read happens after the threads are joined.
///
/// They account for every frame: `out` publishes `frames` (of which `resent` were sent
/// before, by this process) and releases `acked` from its ring; `in` receives
/// `frames + duplicates + gaps + drops` frame messages (`corrupted` ones among the drops)
/// and pushes `frames` into its ring, each position of each stream once.
#[derive(Debug, Default)]
pub struct Counters {
    /// `out`: frames published (resends included). `in`: frames pushed into the local
    /// ring.
    pub frames: AtomicU64,
    /// The payload bytes of those frames (without the bridge's header).
    pub bytes: AtomicU64,
    /// `in`: frames received and not pushed, on purpose: ring full with `--full drop`,
    /// too large for the ring, malformed, or in hand at shutdown (that one stays
    /// unacknowledged, so the next `in` gets it again).
    pub drops: AtomicU64,
    /// Times the link to a peer came back after it had been up and was lost.
    pub reconnects: AtomicU64,
    /// `in`: times a stream's acknowledged position passed what this ring had delivered
    /// (frames acknowledged by another `in`, or this ring's progress segment removed):
    /// runs of frames this ring never got. 0 with one `in` per stream.
    pub lost: AtomicU64,
    /// `in`: frames received again after they were pushed (resent after a crash, a cut
    /// link or a timeout), dropped.
    pub duplicates: AtomicU64,
    /// `in`: frames received after a missing one, dropped until the stream is sent again
    /// from the missing one (which `in` asks for).
    pub gaps: AtomicU64,
    /// `in`: messages refused because their bytes changed on the way (length or CRC);
    /// also counted in `drops`.
    pub corrupted: AtomicU64,
    /// `in`: distinct streams (rings A) seen.
    pub publishers: AtomicU64,
    /// `out`: publications of a frame this process had published before.
    pub resent: AtomicU64,
    /// `out`: times it went back to send again from an earlier frame (asked by `in`, a
    /// subscriber appearing again, or no acknowledgement within the timeout).
    pub rewinds: AtomicU64,
    /// `out`: frames acknowledged by `in` and released from the ring.
    pub acked: AtomicU64,
    /// `out`: acknowledgements refused (malformed, or a position that is not a frame's
    /// end in the ring).
    pub refused: AtomicU64,
}

impl Counters {
    /// Adds one delivered frame of `len` bytes.
    pub fn frame(&self, len: usize) {
        self.frames.fetch_add(1, Relaxed);
        self.bytes.fetch_add(len as u64, Relaxed);
    }

    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    fn fields(&self) -> [(&'static str, u64); 13] {
        [
            ("frames", self.frames.load(Relaxed)),
            ("bytes", self.bytes.load(Relaxed)),
            ("drops", self.drops.load(Relaxed)),
            ("reconnects", self.reconnects.load(Relaxed)),
            ("lost", self.lost.load(Relaxed)),
            ("duplicates", self.duplicates.load(Relaxed)),
            ("gaps", self.gaps.load(Relaxed)),
            ("corrupted", self.corrupted.load(Relaxed)),
            ("publishers", self.publishers.load(Relaxed)),
            ("resent", self.resent.load(Relaxed)),
            ("rewinds", self.rewinds.load(Relaxed)),
            ("acked", self.acked.load(Relaxed)),
            ("refused", self.refused.load(Relaxed)),
        ]
    }

    /// One JSON object: `{"role":"in","ring":..,"key":..,"frames":..,...}`.
    pub fn to_json(&self, role: &str, ring: &str, key: &str) -> String {
        let mut m = serde_json::Map::new();
        m.insert("role".into(), role.into());
        m.insert("ring".into(), ring.into());
        m.insert("key".into(), key.into());
        for (k, v) in self.fields() {
            m.insert(k.into(), v.into());
        }
        serde_json::Value::Object(m).to_string()
    }

    /// One line of text: `ipc-bridge in: frames=.. bytes=.. ...`.
    pub fn to_text(&self, role: &str) -> String {
        let mut s = format!("ipc-bridge {role}:");
        for (k, v) in self.fields() {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_holds_every_counter() {
        let c = Counters::default();
        c.frame(10);
        c.frame(6);
        Counters::add(&c.drops, 3);
        let v: serde_json::Value =
            serde_json::from_str(&c.to_json("in", "/r\"", "a/b")).expect("valid JSON");
        assert_eq!(v["role"], "in");
        assert_eq!(v["ring"], "/r\"");
        assert_eq!(v["frames"], 2);
        assert_eq!(v["bytes"], 16);
        assert_eq!(v["drops"], 3);
        assert_eq!(v["reconnects"], 0);
        assert_eq!(c.to_text("out").split(' ').count(), 15);
        assert_eq!(v["corrupted"], 0);
    }
}
