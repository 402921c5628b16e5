//! The bridge's counters, printed when it stops (text on stderr; JSON on stdout with
//! `--stats`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one bridge process. Each is updated by one thread and read at the end, so
/// Relaxed is enough: the final read happens after the threads are joined.
#[derive(Debug, Default)]
pub struct Counters {
    /// `out`: frames handed to Zenoh. `in`: frames pushed into the local ring.
    pub frames: AtomicU64,
    /// The payload bytes of those frames (without the bridge's header).
    pub bytes: AtomicU64,
    /// Frames this process had and did not deliver: `in`: ring full with `--full drop`,
    /// too large for the ring, malformed, or in hand at shutdown; `out`: a failed publish.
    pub drops: AtomicU64,
    /// Times the link to a peer came back after it had been up and was lost.
    pub reconnects: AtomicU64,
    /// `in`: frames missing from a publisher's sequence (lost upstream, see the guarantee).
    pub lost: AtomicU64,
    /// `in`: frames that arrived behind one already seen from the same publisher.
    pub reordered: AtomicU64,
    /// `in`: messages refused because their bytes changed on the way (length or CRC);
    /// also counted in `drops`.
    pub corrupted: AtomicU64,
    /// `in`: distinct `out` processes seen.
    pub publishers: AtomicU64,
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

    fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("frames", self.frames.load(Relaxed)),
            ("bytes", self.bytes.load(Relaxed)),
            ("drops", self.drops.load(Relaxed)),
            ("reconnects", self.reconnects.load(Relaxed)),
            ("lost", self.lost.load(Relaxed)),
            ("reordered", self.reordered.load(Relaxed)),
            ("corrupted", self.corrupted.load(Relaxed)),
            ("publishers", self.publishers.load(Relaxed)),
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
        assert_eq!(c.to_text("out").split(' ').count(), 10);
        assert_eq!(v["corrupted"], 0);
    }
}
