//! [`SharedLayout`] for the primitives: integers, floats, integer atomics and arrays.

use core::mem::{align_of, size_of};
use core::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU64,
    AtomicU8, AtomicUsize,
};

use super::{SharedLayout, TypeLayout};
use crate::Result;

macro_rules! scalars {
    ($($t:ident),* $(,)?) => {$(
        // SAFETY: a primitive integer, float or integer atomic: its layout is fixed by the
        // language, every bit pattern is a valid value, it holds no pointer or handle, has no
        // Drop, is Sync and 'static, and LAYOUT gives its name, size_of and align_of.
        unsafe impl SharedLayout for $t {
            const LAYOUT: TypeLayout =
                TypeLayout::scalar(stringify!($t), size_of::<$t>(), align_of::<$t>());
        }
    )*};
}

scalars!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
scalars!(
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
);

// SAFETY: `[T; N]` has the layout fixed by the language (N elements of T, no padding
// between them, T's alignment); it is valid for every bit pattern, holds no pointer, needs
// no Drop and is Sync + 'static because T is (T: SharedLayout); LAYOUT records exactly
// that: size_of and align_of of the array, T's layout and N.
unsafe impl<T: SharedLayout, const N: usize> SharedLayout for [T; N] {
    const LAYOUT: TypeLayout = TypeLayout {
        name: "[T;N]",
        size: size_of::<[T; N]>(),
        align: align_of::<[T; N]>(),
        shape: super::Shape::Array {
            elem: &T::LAYOUT,
            len: N,
        },
    };

    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        // A zero-sized element has no bytes to initialise (so no in-place primitive), and
        // N may be as large as usize::MAX: a loop over them would run for ages.
        if size_of::<T>() == 0 {
            return Ok(());
        }
        let first = this.cast::<T>();
        for i in 0..N {
            // SAFETY: i < N, so `first.add(i)` stays inside the array that `this` points to
            // (valid for writes of size_of::<[T; N]>() bytes, aligned for T, zero-filled and
            // exclusively ours, by this function's contract); so each element pointer meets
            // T::init_in_place's requirements.
            unsafe { T::init_in_place(first.add(i))? };
        }
        Ok(())
    }
}
