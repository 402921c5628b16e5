//! Messages of every shape over a byte ring, as methods of [`bytes::Producer`] and
//! [`bytes::Consumer`]:
//!
//! - [`bytemuck::Pod`] values and slices, sent as their bytes with no serialisation
//!   ([`send_pod`](bytes::Producer::send_pod), [`recv_pod`](bytes::Consumer::recv_pod),
//!   [`send_pod_slice`](bytes::Producer::send_pod_slice),
//!   [`recv_pod_vec`](bytes::Consumer::recv_pod_vec)): the receiver checks the frame's
//!   length and copies it out (a frame's bytes are only 8-aligned, so no reference into the
//!   ring is handed out as a `&T`);
//! - with the cargo feature `serde`, any `serde` value, serialised with `postcard` (compact,
//!   no schema): [`send_object`](bytes::Producer::send_object) and
//!   [`recv_object`](bytes::Consumer::recv_object): process_shared's
//!   `write_object`/`read_object` between processes, with the ring's ordering, waiting and
//!   disconnection.
//!
//! Typed values of a [`SharedLayout`](crate::SharedLayout) type go through the typed rings
//! ([`SpscRing`](crate::SpscRing), [`MpmcRing`](crate::MpmcRing)) instead, slot by slot.
//!
//! The receiving methods consume the frame whatever it holds: a frame of the wrong length
//! (or, for objects, bytes that do not deserialise) is an error for that frame only, and the
//! next call reads the next frame.

use std::time::Duration;

use bytemuck::Pod;
use ipc_core::ErrorKind;

use super::bytes::{Consumer, Frame, Producer};
use crate::error::{Error, Result};

fn frame_len_error(op: &'static str, frame: &Frame<'_, '_>, what: &str, want: &str) -> Error {
    Error::with_text(
        op,
        ErrorKind::InvalidSize,
        format!(
            "a frame of {} bytes cannot be a {what}: it needs {want}",
            frame.len()
        ),
    )
    .or_name(frame.ring_name())
}

/// The frame's bytes as one `T` (exactly `size_of::<T>()` bytes).
fn pod_from<T: Pod>(op: &'static str, frame: Frame<'_, '_>) -> Result<T> {
    let bytes: &[u8] = &frame;
    if bytes.len() != size_of::<T>() {
        return Err(frame_len_error(
            op,
            &frame,
            std::any::type_name::<T>(),
            &format!("{} bytes", size_of::<T>()),
        ));
    }
    Ok(bytemuck::pod_read_unaligned(bytes))
}

/// The frame's bytes as `T`s (a multiple of `size_of::<T>()` bytes).
fn pods_from<T: Pod>(op: &'static str, frame: Frame<'_, '_>) -> Result<Vec<T>> {
    let bytes: &[u8] = &frame;
    let size = size_of::<T>();
    if size == 0 || bytes.len() % size != 0 {
        return Err(frame_len_error(
            op,
            &frame,
            &format!("[{}]", std::any::type_name::<T>()),
            &format!("a multiple of {size} bytes"),
        ));
    }
    Ok(bytes
        .chunks_exact(size)
        .map(bytemuck::pod_read_unaligned)
        .collect())
}

impl Producer<'_> {
    /// Sends `value` as one frame of its bytes, waiting up to `timeout` for room (`None`:
    /// until there is room or the consumer is gone). No serialisation: a
    /// [`Pod`] value is its bytes, so both sides must agree on `T` (its size is checked on
    /// receipt).
    ///
    /// # Errors
    /// As [`send`](Self::send) (op `send_pod`):
    /// [`InvalidSize`](crate::ErrorKind::InvalidSize) if `T` is larger than the ring's
    /// largest frame, [`Timeout`](crate::ErrorKind::Timeout),
    /// [`Disconnected`](crate::ErrorKind::Disconnected).
    pub fn send_pod<T: Pod>(&mut self, value: &T, timeout: Option<Duration>) -> Result<()> {
        self.send_as("send_pod", bytemuck::bytes_of(value), timeout)
    }

    /// As [`send_pod`](Self::send_pod) without waiting: `Ok(false)` if there is no room
    /// now (as [`try_send`](Self::try_send); op `try_send_pod`).
    #[must_use = "Ok(false): the ring was full and nothing was sent"]
    pub fn try_send_pod<T: Pod>(&mut self, value: &T) -> Result<bool> {
        self.try_send_as("try_send_pod", bytemuck::bytes_of(value))
    }

    /// Sends `values` as one frame of their bytes (received with
    /// [`Consumer::recv_pod_vec`]); errors as [`send_pod`](Self::send_pod) (op
    /// `send_pod_slice`).
    pub fn send_pod_slice<T: Pod>(
        &mut self,
        values: &[T],
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.send_as("send_pod_slice", bytemuck::cast_slice(values), timeout)
    }
}

impl Consumer<'_> {
    /// Receives one frame as a `T`, waiting up to `timeout` (`None`: until a frame comes or
    /// the producer is gone).
    ///
    /// # Errors
    /// [`InvalidSize`](crate::ErrorKind::InvalidSize) if the frame is not exactly
    /// `size_of::<T>()` bytes (the frame is consumed); the errors of
    /// [`recv`](Self::recv): [`Timeout`](crate::ErrorKind::Timeout),
    /// [`Disconnected`](crate::ErrorKind::Disconnected),
    /// [`Corrupted`](crate::ErrorKind::Corrupted). Op `recv_pod`, the ring's name.
    pub fn recv_pod<T: Pod>(&mut self, timeout: Option<Duration>) -> Result<T> {
        const OP: &str = "recv_pod";
        pod_from(OP, self.recv_as(OP, timeout)?)
    }

    /// As [`recv_pod`](Self::recv_pod) without waiting: `Ok(None)` if no frame is there
    /// (op `try_recv_pod`).
    pub fn try_recv_pod<T: Pod>(&mut self) -> Result<Option<T>> {
        const OP: &str = "try_recv_pod";
        match self.try_recv_as(OP)? {
            Some(frame) => pod_from(OP, frame).map(Some),
            None => Ok(None),
        }
    }

    /// Receives one frame as a vector of `T` (sent with
    /// [`Producer::send_pod_slice`]); [`InvalidSize`](crate::ErrorKind::InvalidSize) if its
    /// length is not a multiple of `size_of::<T>()`; otherwise errors as
    /// [`recv_pod`](Self::recv_pod) (op `recv_pod_vec`).
    pub fn recv_pod_vec<T: Pod>(&mut self, timeout: Option<Duration>) -> Result<Vec<T>> {
        const OP: &str = "recv_pod_vec";
        pods_from(OP, self.recv_as(OP, timeout)?)
    }
}

#[cfg(feature = "serde")]
mod objects {
    use super::*;

    fn codec_error(op: &'static str, name: &str, e: postcard::Error) -> Error {
        Error::with_text(op, ErrorKind::InvalidInput, format!("postcard: {e}")).or_name(name)
    }

    impl Producer<'_> {
        /// Sends `value` serialised with `postcard` as one frame, waiting up to `timeout`
        /// for room. (Feature `serde`.)
        ///
        /// # Errors
        /// [`InvalidInput`](crate::ErrorKind::InvalidInput) if `value` does not serialise;
        /// [`InvalidSize`](crate::ErrorKind::InvalidSize) if its encoding is larger than
        /// the ring's largest frame; [`Timeout`](crate::ErrorKind::Timeout),
        /// [`Disconnected`](crate::ErrorKind::Disconnected). Op `send_object`, the ring's name.
        pub fn send_object<T: serde::Serialize + ?Sized>(
            &mut self,
            value: &T,
            timeout: Option<Duration>,
        ) -> Result<()> {
            const OP: &str = "send_object";
            let bytes =
                postcard::to_allocvec(value).map_err(|e| codec_error(OP, self.ring_name(), e))?;
            self.send_as(OP, &bytes, timeout)
        }
    }

    impl Consumer<'_> {
        /// Receives one frame and deserialises it with `postcard` as a `T`, waiting up to
        /// `timeout`. (Feature `serde`.)
        ///
        /// # Errors
        /// [`InvalidInput`](crate::ErrorKind::InvalidInput) if the frame is not a `T`'s
        /// encoding, or has bytes after it (the frame is consumed); otherwise errors as
        /// [`recv`](Self::recv) (op `recv_object`, the ring's name).
        pub fn recv_object<T: serde::de::DeserializeOwned>(
            &mut self,
            timeout: Option<Duration>,
        ) -> Result<T> {
            const OP: &str = "recv_object";
            let frame = self.recv_as(OP, timeout)?;
            let (value, rest) = postcard::take_from_bytes::<T>(&frame)
                .map_err(|e| codec_error(OP, frame.ring_name(), e))?;
            if !rest.is_empty() {
                return Err(Error::with_text(
                    OP,
                    ErrorKind::InvalidInput,
                    format!(
                        "{} bytes left after the {}",
                        rest.len(),
                        std::any::type_name::<T>()
                    ),
                )
                .or_name(frame.ring_name()));
            }
            Ok(value)
        }
    }
}
