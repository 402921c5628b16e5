//! [`AnonShm`]: anonymous shared memory, inherited by children forked after it is made.

use crate::{Memory, Result};

use super::{check_size, Mapping};

/// Anonymous shared memory (`mmap(MAP_SHARED | MAP_ANONYMOUS)`): zero-filled, nameless,
/// and shared with every child `fork`ed after it was created (not with unrelated processes,
/// nor across `exec`). Unmapped when dropped (in each process separately).
///
/// # References
/// [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
#[derive(Debug)]
#[doc(alias = "mmap")]
#[doc(alias = "MAP_ANONYMOUS")]
pub struct AnonShm {
    map: Mapping,
}

impl AnonShm {
    /// `mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)`:
    /// maps `size` zero-filled bytes that forked children share.
    ///
    /// Errors: [`ErrorKind::InvalidSize`](crate::ErrorKind::InvalidSize) for 0 or too large,
    /// [`ErrorKind::NoSpace`](crate::ErrorKind::NoSpace) when the kernel refuses the memory.
    ///
    /// # References
    /// [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    #[doc(alias = "mmap")]
    pub fn new(size: usize) -> Result<AnonShm> {
        let len = check_size("mmap", size)?;
        Ok(AnonShm {
            map: Mapping::anonymous("mmap", len)?,
        })
    }

    super::memory_accessors!("the size asked for");
}

// SAFETY: (1) the mapping is live, page-aligned (mmap's result) and read-write for `len()`
// bytes; (2) it is unmapped only in Drop; (3) its length is fixed at construction.
unsafe impl Memory for AnonShm {
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}
