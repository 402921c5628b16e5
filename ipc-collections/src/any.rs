//! [`AnyArray`]: a [`SharedArray`] opened without naming its element type (IPC.jl's
//! `WrappedArray(id)`): the element type and dims come from the segment.

use std::fmt::{self, Write as _};
use std::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU64,
    AtomicU8, AtomicUsize, Ordering,
};
use std::time::Duration;

use ipc_core::{ErrorKind, SharedLayout};

use crate::error::{Error, Result};
use crate::format::{Kind, SegmentInfo};
use crate::{SharedArray, DEFAULT_OPEN_TIMEOUT};

/// Prints one element (plain values as they are, atomics by a relaxed load).
trait Show {
    fn show(&self, out: &mut String);
}

macro_rules! show_plain {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
show_plain!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

macro_rules! show_atomic {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show(&self, out: &mut String) {
                let _ = write!(out, "{}", self.load(Ordering::Relaxed));
            }
        }
    )*};
}
show_atomic!(
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize
);

/// Writes `elems` with `dims` as nested brackets, C order: `[[1, 2], [3, 4]]`.
fn nested<T: Show>(out: &mut String, dims: &[usize], elems: &[T]) {
    match dims.split_first() {
        None => {}
        Some((_, [])) => {
            out.push('[');
            for (i, e) in elems.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                e.show(out);
            }
            out.push(']');
        }
        Some((&d, rest)) => {
            let step = crate::format::element_count(rest).unwrap_or(0);
            out.push('[');
            for i in 0..d {
                if i > 0 {
                    out.push_str(", ");
                }
                let lo = (i * step).min(elems.len());
                let hi = (lo + step).min(elems.len());
                nested(out, rest, &elems[lo..hi]);
            }
            out.push(']');
        }
    }
}

macro_rules! elem_types {
    ($($variant:ident => $t:ty, $name:literal;)*) => {
        /// The element types an [`AnyArray`] recognises: the integer and float scalars and
        /// the integer atomics (the segment's type name, size and alignment say which; the
        /// fingerprint is checked when the typed handle is opened).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ElemType {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl ElemType {
            /// The element type a segment's header describes, or `None` if it is not one of
            /// these (a struct, an array element, `u128`, another size or alignment).
            pub fn from_info(info: &SegmentInfo) -> Option<ElemType> {
                $(
                    if info.type_name == $name
                        && info.elem_size == size_of::<$t>()
                        && info.elem_align == align_of::<$t>()
                    {
                        return Some(ElemType::$variant);
                    }
                )*
                None
            }

            /// The type's name as a schema writes it (`"f64"`, `"AtomicU64"`).
            pub fn name(self) -> &'static str {
                match self {
                    $(ElemType::$variant => $name,)*
                }
            }

            /// The size of one element in bytes.
            pub fn size(self) -> usize {
                match self {
                    $(ElemType::$variant => size_of::<$t>(),)*
                }
            }
        }

        /// A named [`SharedArray`] opened without naming its element type: IPC.jl's
        /// `WrappedArray(id)`. Match on the variant to get the typed handle, or ask for
        /// one with [`typed`](AnyArray::typed) / [`into_typed`](AnyArray::into_typed).
        ///
        /// ```no_run
        /// use ipc_collections::{AnyArray, ElemType};
        ///
        /// let a = AnyArray::open("/grid")?;
        /// println!("{} {:?}: {}", a.elem().name(), a.dims(), a.to_string_lossy()?);
        /// match a {
        ///     AnyArray::F64(grid) => println!("sum {}", grid.lock()?.iter().sum::<f64>()),
        ///     other => println!("not f64 but {:?}", other.elem()),
        /// }
        /// # Ok::<(), ipc_collections::Error>(())
        /// ```
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum AnyArray {
            $(
                #[doc = concat!("An array of `", $name, "`.")]
                $variant(SharedArray<$t>),
            )*
        }

        impl AnyArray {
            /// Opens the named array with a timeout for its creator to publish it.
            fn open_as(name: &str, elem: ElemType, timeout: Duration) -> Result<AnyArray> {
                Ok(match elem {
                    $(ElemType::$variant => AnyArray::$variant(
                        SharedArray::<$t>::options().timeout(timeout).open(name)?,
                    ),)*
                })
            }

            /// The element type.
            pub fn elem(&self) -> ElemType {
                match self {
                    $(AnyArray::$variant(_) => ElemType::$variant,)*
                }
            }

            /// The array's name.
            pub fn name(&self) -> &str {
                match self {
                    $(AnyArray::$variant(a) => a.name(),)*
                }
            }

            /// What the segment's header says.
            pub fn info(&self) -> &SegmentInfo {
                match self {
                    $(AnyArray::$variant(a) => a.info(),)*
                }
            }

            /// All elements as nested brackets in C order (`[[1, 2], [3, 4]]`), read under
            /// the array's lock: what a tool prints.
            ///
            /// Errors: those of [`SharedArray::lock`] (among them [`ErrorKind::Poisoned`](crate::ErrorKind::Poisoned)).
            pub fn to_string_lossy(&self) -> Result<String> {
                let mut out = String::new();
                match self {
                    $(AnyArray::$variant(a) => {
                        let g = a.lock()?;
                        nested(&mut out, a.dims(), &g);
                    })*
                }
                Ok(out)
            }
        }

        $(
            impl sealed::Elem for $t {
                fn from_any(a: AnyArray) -> Option<SharedArray<$t>> {
                    match a {
                        AnyArray::$variant(a) => Some(a),
                        _ => None,
                    }
                }
                fn from_any_ref(a: &AnyArray) -> Option<&SharedArray<$t>> {
                    match a {
                        AnyArray::$variant(a) => Some(a),
                        _ => None,
                    }
                }
            }
            impl AnyElem for $t {}
        )*
    };
}

mod sealed {
    pub trait Elem: ipc_core::SharedLayout + Sized {
        fn from_any(a: super::AnyArray) -> Option<crate::SharedArray<Self>>;
        fn from_any_ref(a: &super::AnyArray) -> Option<&crate::SharedArray<Self>>;
    }
}

/// An element type that an [`AnyArray`] can hold (see [`ElemType`]); sealed.
pub trait AnyElem: sealed::Elem {}

elem_types! {
    I8 => i8, "i8";
    I16 => i16, "i16";
    I32 => i32, "i32";
    I64 => i64, "i64";
    Isize => isize, "isize";
    U8 => u8, "u8";
    U16 => u16, "u16";
    U32 => u32, "u32";
    U64 => u64, "u64";
    Usize => usize, "usize";
    F32 => f32, "f32";
    F64 => f64, "f64";
    AtomicI8 => AtomicI8, "AtomicI8";
    AtomicI16 => AtomicI16, "AtomicI16";
    AtomicI32 => AtomicI32, "AtomicI32";
    AtomicI64 => AtomicI64, "AtomicI64";
    AtomicIsize => AtomicIsize, "AtomicIsize";
    AtomicU8 => AtomicU8, "AtomicU8";
    AtomicU16 => AtomicU16, "AtomicU16";
    AtomicU32 => AtomicU32, "AtomicU32";
    AtomicU64 => AtomicU64, "AtomicU64";
    AtomicUsize => AtomicUsize, "AtomicUsize";
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl AnyArray {
    /// Opens the named array whatever its element type: reads the header (kind, element
    /// type name, size, alignment, dims), then opens it as a [`SharedArray`] of that type,
    /// which checks the fingerprint and schema as a typed open does. Waits up to 5 s for
    /// the creator to publish it.
    ///
    /// Errors: [`ipc_core::ErrorKind::InvalidInput`] naming the stored type when the
    /// element type is not one of [`ElemType`] (a struct, `[T; N]`, `u128`); [`ErrorKind::WrongType`](crate::ErrorKind::WrongType) for a segment that is not an
    /// array; otherwise those of [`SharedArray::open`] (among them
    /// [`ipc_core::ErrorKind::NotFound`]).
    pub fn open(name: &str) -> Result<AnyArray> {
        Self::open_timeout(name, DEFAULT_OPEN_TIMEOUT)
    }

    /// [`open`](Self::open), waiting up to `timeout` for the creator to publish the array
    /// (one deadline for the header read and the typed open each).
    pub fn open_timeout(name: &str, timeout: Duration) -> Result<AnyArray> {
        let info = crate::inspect_timeout(name, timeout)?;
        if info.kind != Kind::Array {
            return Err(Error::wrong_kind(name, Kind::Array, info.kind));
        }
        let elem = ElemType::from_info(&info).ok_or_else(|| {
            ipc_core::Error::new(
                "AnyArray::open",
                ErrorKind::InvalidInput(format!(
                    "unknown element type {:?} ({} bytes, align {}): not an integer, \
                     float or integer atomic; open it as SharedArray<T> with that T",
                    info.type_name, info.elem_size, info.elem_align
                )),
            )
            .with_name(name)
        })?;
        Self::open_as(name, elem, timeout)
    }

    /// The dimensions (C order).
    pub fn dims(&self) -> &[usize] {
        &self.info().dims
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        crate::format::element_count(self.dims()).unwrap_or(0)
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The typed handle, if the elements are `T`.
    pub fn typed<T: AnyElem>(&self) -> Option<&SharedArray<T>> {
        T::from_any_ref(self)
    }

    /// The typed handle, if the elements are `T`.
    ///
    /// Errors: [`LayoutMismatch`](crate::ErrorKind::LayoutMismatch) naming both types otherwise, as
    /// `SharedArray::<T>::open` would give (the handle is dropped; an opener never
    /// unlinks).
    pub fn into_typed<T: AnyElem>(self) -> Result<SharedArray<T>> {
        let name = self.name().to_owned();
        let found = self.elem().name();
        T::from_any(self).ok_or_else(|| {
            let want = <T as SharedLayout>::LAYOUT.name;
            Error::layout_mismatch(
                &name,
                crate::LayoutMismatch {
                    type_name: format!("[{want}]"),
                    expected: want.to_owned(),
                    found: found.to_owned(),
                    diffs: vec![format!("element type: expected {want}, found {found}")],
                },
            )
        })
    }
}
