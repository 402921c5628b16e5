//! The layout shared by the locks that guard a value ([`SharedMutex`](crate::SharedMutex),
//! [`SharedRwLock`](crate::SharedRwLock)): `#[repr(C)] struct Lock<T> { raw: Raw, data:
//! UnsafeCell<T> }`.

/// The two items of `SharedLayout` for a `#[repr(C)]` lock type `Self` with the fields
/// `raw: $raw` (a `SharedLayout` lock primitive) and `data: UnsafeCell<T>`: `LAYOUT` is a
/// struct named `$name` listing both fields with their `offset_of!` and layouts, and its own
/// size and alignment; `init_in_place` initialises `raw`, then `data`.
///
/// Expands inside `unsafe impl<T: SharedLayout + Send> SharedLayout for Lock<T> { .. }`,
/// whose safety comment remains the caller's to write.
macro_rules! raw_and_data_layout {
    ($name:literal, $raw:ty) => {
        const LAYOUT: ::ipc_core::layout::TypeLayout = ::ipc_core::layout::TypeLayout::structure(
            $name,
            ::core::mem::size_of::<Self>(),
            ::core::mem::align_of::<Self>(),
            &[
                ::ipc_core::layout::Field {
                    name: "raw",
                    offset: ::core::mem::offset_of!(Self, raw),
                    layout: &<$raw as ::ipc_core::SharedLayout>::LAYOUT,
                },
                ::ipc_core::layout::Field {
                    name: "data",
                    offset: ::core::mem::offset_of!(Self, data),
                    layout: &<T as ::ipc_core::SharedLayout>::LAYOUT,
                },
            ],
        );

        unsafe fn init_in_place(this: *mut Self) -> ::ipc_core::Result<()> {
            // SAFETY: `this` is valid for writes, aligned, zero-filled and exclusively ours
            // (this function's contract), so the same holds for each field, at its offset;
            // `UnsafeCell<T>` has the layout of `T`.
            unsafe {
                <$raw as ::ipc_core::SharedLayout>::init_in_place(::core::ptr::addr_of_mut!(
                    (*this).raw
                ))?;
                <T as ::ipc_core::SharedLayout>::init_in_place(
                    ::core::ptr::addr_of_mut!((*this).data).cast::<T>(),
                )
            }
        }
    };
}

pub(crate) use raw_and_data_layout;
