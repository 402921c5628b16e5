//! [`AnyArray`]: a [`SharedArray`] opened without naming its element type (IPC.jl's
//! `WrappedArray(id)`): the element type and dims come from the segment.

use std::fmt::{self, Write as _};
use std::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32, AtomicU64,
    AtomicU8, AtomicUsize, Ordering,
};

use ipc_core::{ErrorKind, SharedLayout};

use crate::error::{Error, Result};
use crate::format::{Kind, SegmentInfo};
use crate::segment::named::{self, NamedOptions};
use crate::SharedArray;

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

/// Parses one element from text (what [`Show`] writes: `1.5`, `-3`; atomics as the integer
/// they hold).
trait Parse: Sized {
    fn parse(text: &str) -> Option<Self>;
}

macro_rules! parse_plain {
    ($($t:ty),*) => {$(
        impl Parse for $t {
            fn parse(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
        }
    )*};
}
parse_plain!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

macro_rules! parse_atomic {
    ($($t:ty => $inner:ty),*) => {$(
        impl Parse for $t {
            fn parse(text: &str) -> Option<Self> {
                text.trim().parse::<$inner>().ok().map(<$t>::new)
            }
        }
    )*};
}
parse_atomic!(
    AtomicI8 => i8,
    AtomicI16 => i16,
    AtomicI32 => i32,
    AtomicI64 => i64,
    AtomicIsize => isize,
    AtomicU8 => u8,
    AtomicU16 => u16,
    AtomicU32 => u32,
    AtomicU64 => u64,
    AtomicUsize => usize
);

/// `text` parsed as an element of `elem`, or the [`ErrorKind::InvalidInput`] error that says
/// why not.
fn parse_elem<T: Parse>(elem: ElemType, text: &str) -> Result<T> {
    T::parse(text).ok_or_else(|| {
        ipc_core::Error::with_text(
            "parse",
            ErrorKind::InvalidInput,
            format!("{text:?} is not a value of type {elem}"),
        )
    })
}

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

            /// The element type called `name` as [`name`](Self::name) writes it (`"f64"`,
            /// `"AtomicU64"`), if it is one of these.
            pub fn from_name(name: &str) -> Option<ElemType> {
                match name {
                    $($name => Some(ElemType::$variant),)*
                    _ => None,
                }
            }

            /// Every element type, in a fixed order.
            pub const ALL: &'static [ElemType] = &[$(ElemType::$variant,)*];

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
            /// Opens the named array of `elem` as `opts` say.
            fn open_as(opts: &AnyArrayOptions, name: &str, elem: ElemType) -> Result<AnyArray> {
                Ok(match elem {
                    $(ElemType::$variant => AnyArray::$variant(opts.typed::<$t>().open(name)?),)*
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

            /// Whether this call created the array (see the lifetime table in `ipc_core`'s
            /// crate docs).
            pub fn created(&self) -> bool {
                match self {
                    $(AnyArray::$variant(a) => a.created(),)*
                }
            }

            /// Whether dropping this handle (in this process) unlinks the name.
            pub fn unlinks_on_drop(&self) -> bool {
                match self {
                    $(AnyArray::$variant(a) => a.unlinks_on_drop(),)*
                }
            }

            /// Chooses whether dropping this handle unlinks the name (as
            /// [`SharedArray::set_unlink_on_drop`]).
            pub fn set_unlink_on_drop(&mut self, yes: bool) {
                match self {
                    $(AnyArray::$variant(a) => a.set_unlink_on_drop(yes),)*
                }
            }

            /// What the segment's header says.
            pub fn info(&self) -> &SegmentInfo {
                match self {
                    $(AnyArray::$variant(a) => a.info(),)*
                }
            }

            /// Creates (with `verb`) the named array of `elem` as `opts` say, every
            /// element `fill`.
            fn create_as(
                opts: &AnyArrayOptions,
                verb: Verb,
                name: &str,
                elem: ElemType,
                fill: &str,
            ) -> Result<AnyArray> {
                Ok(match elem {
                    $(ElemType::$variant => {
                        // Checked before the object exists, so a bad value creates nothing.
                        parse_elem::<$t>(elem, fill).map_err(|e| e.with_name(name))?;
                        let init = |xs: &mut [$t]| {
                            for x in xs {
                                if let Some(v) = <$t as Parse>::parse(fill) {
                                    *x = v;
                                }
                            }
                        };
                        let typed = opts.typed::<$t>();
                        AnyArray::$variant(match verb {
                            Verb::Create => typed.create(name, init)?,
                            Verb::CreateUnique => typed.create_unique(name, init)?,
                            Verb::OpenOrCreate => typed.open_or_create(name, init)?,
                        })
                    })*
                })
            }

            /// Writes `value`, parsed as the element type, at `index` under the lock.
            ///
            /// Errors: [`ipc_core::ErrorKind::InvalidInput`] if `value` is not a value of
            /// the element type or `index` is out of range; those of [`SharedArray::set`].
            pub fn set_text(&self, index: &[usize], value: &str) -> Result<()> {
                match self {
                    $(AnyArray::$variant(a) => a.set(
                        index,
                        parse_elem::<$t>(self.elem(), value).map_err(|e| e.with_name(a.name()))?,
                    ),)*
                }
            }

            /// Every element as text, flat in C order, read under the lock (numbers as
            /// Rust's `Display` writes them: `1.5`, `-3`, `NaN`, `inf`).
            ///
            /// Errors: those of [`SharedArray::lock`].
            pub fn values_text(&self) -> Result<Vec<String>> {
                let mut out = Vec::with_capacity(self.len());
                match self {
                    $(AnyArray::$variant(a) => {
                        let g = a.lock()?;
                        for x in g.iter() {
                            let mut s = String::new();
                            x.show(&mut s);
                            out.push(s);
                        }
                    })*
                }
                Ok(out)
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

/// How an [`AnyArray`] is created or opened: the builder every typed segment shares (the
/// same words as [`SharedArrayOptions`](crate::SharedArrayOptions), see the lifetime table
/// in `ipc_core`'s crate docs), with the element type chosen at run time.
///
/// ```no_run
/// use ipc_collections::{AnyArray, ElemType};
///
/// let t = ElemType::from_name("f64").unwrap();
/// let a = AnyArray::options().dims(&[2, 3]).unlink_on_drop(false).create("/grid", t, "0.5")?;
/// assert_eq!(a.to_string_lossy()?, "[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]");
/// # Ok::<(), ipc_collections::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AnyArrayOptions {
    named: NamedOptions,
    dims: Option<Vec<usize>>,
}

/// Which creating verb [`AnyArray::create_as`] runs.
#[derive(Clone, Copy)]
enum Verb {
    Create,
    CreateUnique,
    OpenOrCreate,
}

impl Default for AnyArrayOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl AnyArrayOptions {
    /// Mode 0600, a 5 s open timeout, and a creator that unlinks on drop; no dims yet.
    pub fn new() -> Self {
        AnyArrayOptions {
            named: named::defaults(),
            dims: None,
        }
    }

    /// The dimensions (C order): the shape of a created array (needed to create), and the
    /// shape an opened array must have, as
    /// [`SharedArrayOptions::dims`](crate::SharedArrayOptions::dims).
    pub fn dims(mut self, dims: &[usize]) -> Self {
        self.dims = Some(dims.to_vec());
        self
    }

    ipc_core::named_setters!(named; mode, timeout, unlink_on_drop);

    /// The typed builder with the same settings.
    fn typed<T: SharedLayout>(&self) -> crate::SharedArrayOptions<T> {
        crate::SharedArrayOptions::with(self.named, self.dims.clone())
    }

    /// Creates the named array of `elem` (exclusive create), every element `fill` parsed as
    /// that type (`"0"`, `"-1.5"`; an atomic as the integer it holds).
    ///
    /// Errors: [`ipc_core::ErrorKind::InvalidInput`] if `fill` is not a value of that type
    /// (nothing is created); otherwise those of
    /// [`SharedArrayOptions::create`](crate::SharedArrayOptions::create).
    pub fn create(&self, name: &str, elem: ElemType, fill: &str) -> Result<AnyArray> {
        AnyArray::create_as(self, Verb::Create, name, elem, fill)
    }

    /// As [`create`](Self::create), under a fresh random name that starts with `prefix`
    /// (`/grid-` gives `/grid-9f86d081884c7d65`): race-free, drawing again while the name is
    /// taken; [`AnyArray::name`] tells the name.
    ///
    /// Errors: those of [`create`](Self::create); [`ipc_core::ErrorKind::InvalidName`] for a
    /// bad prefix.
    pub fn create_unique(&self, prefix: &str, elem: ElemType, fill: &str) -> Result<AnyArray> {
        AnyArray::create_as(self, Verb::CreateUnique, prefix, elem, fill)
    }

    /// Opens the named array of `elem` if it exists (it must have that element type, and
    /// the [`dims`](Self::dims)), else creates it with every element `fill`: race-safe,
    /// exactly one of several concurrent callers creates ([`AnyArray::created`] says which).
    ///
    /// Errors: those of [`create`](Self::create) and
    /// [`SharedArrayOptions::open_or_create`](crate::SharedArrayOptions::open_or_create)
    /// (an existing array of another element type is
    /// [`LayoutMismatch`](crate::ErrorKind::LayoutMismatch)).
    pub fn open_or_create(&self, name: &str, elem: ElemType, fill: &str) -> Result<AnyArray> {
        AnyArray::create_as(self, Verb::OpenOrCreate, name, elem, fill)
    }

    /// Opens the named array whatever its element type: reads the header (kind, element
    /// type name, size, alignment, dims), then opens it as a [`SharedArray`] of that type,
    /// which checks the fingerprint and schema as a typed open does (and the
    /// [`dims`](Self::dims), if set). Waits up to the [`timeout`](Self::timeout) for the
    /// creator to publish it (one deadline for the header read and the typed open each).
    ///
    /// Errors: [`ipc_core::ErrorKind::InvalidInput`] naming the stored type when the
    /// element type is not one of [`ElemType`] (a struct, `[T; N]`, `u128`);
    /// [`ErrorKind::WrongType`](crate::ErrorKind::WrongType) for a segment that is not an
    /// array; otherwise those of [`SharedArray::open`] (among them
    /// [`ipc_core::ErrorKind::NotFound`]).
    pub fn open(&self, name: &str) -> Result<AnyArray> {
        let info = crate::inspect_timeout(name, self.named.timeout)?;
        if info.kind != Kind::Array {
            return Err(Error::wrong_kind(name, Kind::Array, info.kind));
        }
        let elem = ElemType::from_info(&info).ok_or_else(|| {
            ipc_core::Error::with_text(
                "AnyArray::open",
                ErrorKind::InvalidInput,
                format!(
                    "unknown element type {:?} ({} bytes, align {}): not an integer, \
                     float or integer atomic; open it as SharedArray<T> with that T",
                    info.type_name, info.elem_size, info.elem_align
                ),
            )
            .with_name(name)
        })?;
        AnyArray::open_as(self, name, elem)
    }
}

impl AnyArray {
    /// The builder for everything beyond [`open`](Self::open): creating an array of a type
    /// chosen at run time, a mode, a timeout, the lifetime.
    pub fn options() -> AnyArrayOptions {
        AnyArrayOptions::new()
    }

    /// Opens the named array whatever its element type, waiting up to 5 s for the creator
    /// to publish it. Shortcut for `AnyArray::options().open(name)`; errors as
    /// [`AnyArrayOptions::open`].
    pub fn open(name: &str) -> Result<AnyArray> {
        Self::options().open(name)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_type_names_round_trip() {
        assert_eq!(ElemType::ALL.len(), 22);
        for &e in ElemType::ALL {
            assert_eq!(ElemType::from_name(e.name()), Some(e));
        }
        assert_eq!(ElemType::from_name("u128"), None);
        assert_eq!(ElemType::from_name("F64"), None);
    }

    #[test]
    fn options_create_a_type_chosen_at_run_time_under_the_lifetime_rule() {
        let name = ipc_testutil::unique_name("any-opts");
        let _c = ipc_testutil::Cleanup::shm(&name);
        let path = format!("/dev/shm{name}");
        let a = AnyArray::options()
            .dims(&[2])
            .create(&name, ElemType::I16, "-2")
            .unwrap();
        assert_eq!(
            (a.elem(), a.values_text().unwrap()),
            (ElemType::I16, vec!["-2".to_owned(), "-2".to_owned()])
        );
        a.set_text(&[1], "7").unwrap();
        assert_eq!(a.typed::<i16>().unwrap().get(&[1]).unwrap(), 7);
        // The creating handle removes the name on drop, unless told otherwise.
        drop(a);
        assert!(!std::path::Path::new(&path).exists());
        let e = AnyArray::options()
            .dims(&[2])
            .create(&name, ElemType::U8, "x")
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
        assert!(
            !std::path::Path::new(&path).exists(),
            "a bad fill created nothing"
        );
        let a = AnyArray::options()
            .dims(&[1])
            .unlink_on_drop(false)
            .create(&name, ElemType::F32, "1.5")
            .unwrap();
        drop(a);
        let b = AnyArray::open(&name).unwrap();
        assert_eq!(b.values_text().unwrap(), ["1.5"]);
    }

    #[test]
    fn elements_parse_as_their_type() {
        assert_eq!(parse_elem::<f64>(ElemType::F64, " 1.5").unwrap(), 1.5);
        assert_eq!(parse_elem::<i8>(ElemType::I8, "-128").unwrap(), -128);
        let e = parse_elem::<u8>(ElemType::U8, "256").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.detail(), Some("\"256\" is not a value of type u8"));
        let a = parse_elem::<AtomicU32>(ElemType::AtomicU32, "7").unwrap();
        assert_eq!(a.load(Ordering::Relaxed), 7);
        assert!(parse_elem::<AtomicU32>(ElemType::AtomicU32, "-1").is_err());
    }
}
