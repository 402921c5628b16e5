//! The layout contract without the derive: primitive impls, the schema grammar (writing,
//! parsing back, hostile input) and the schema comparison.

use std::mem::{align_of, size_of};
use std::sync::atomic::*;

use ipc_core::layout::{
    diff_schemas, Field, Schema, SchemaDiffKind, SchemaShape, Shape, MAX_SCHEMA_DEPTH,
    MAX_SCHEMA_DIFFS,
};
use ipc_core::{ErrorKind, SharedLayout, TypeLayout};

/// A hand-written tree with every shape: scalars, an opaque, an array, a nested (tuple)
/// struct; `Outer` is the root.
static U8: TypeLayout = TypeLayout::scalar("u8", 1, 1);
static M: TypeLayout = TypeLayout::opaque("RawMutex", 40, 8);
static ARR: TypeLayout = TypeLayout::array(&M, 2);
static INNER_F: [Field; 1] = [Field {
    name: "0",
    offset: 0,
    layout: &U8,
}];
static INNER: TypeLayout = TypeLayout::structure("Inner", 1, 1, &INNER_F);
static OUTER_F: [Field; 3] = [
    Field {
        name: "tag",
        offset: 0,
        layout: &U8,
    },
    Field {
        name: "locks",
        offset: 8,
        layout: &ARR,
    },
    Field {
        name: "inner",
        offset: 88,
        layout: &INNER,
    },
];
static OUTER: TypeLayout = TypeLayout::structure("Outer", 96, 8, &OUTER_F);

fn check_scalar<T: SharedLayout>(name: &str) {
    let l = T::LAYOUT;
    assert_eq!(l.name, name);
    assert_eq!(l.size, size_of::<T>(), "{name}");
    assert_eq!(l.align, align_of::<T>(), "{name}");
    assert_eq!(l.shape, Shape::Scalar, "{name}");
    assert_eq!(l.schema(), format!("{name}({}/{})", l.size, l.align));
}

#[test]
fn primitives_describe_themselves() {
    check_scalar::<u8>("u8");
    check_scalar::<u16>("u16");
    check_scalar::<u32>("u32");
    check_scalar::<u64>("u64");
    check_scalar::<u128>("u128");
    check_scalar::<usize>("usize");
    check_scalar::<i8>("i8");
    check_scalar::<i16>("i16");
    check_scalar::<i32>("i32");
    check_scalar::<i64>("i64");
    check_scalar::<i128>("i128");
    check_scalar::<isize>("isize");
    check_scalar::<f32>("f32");
    check_scalar::<f64>("f64");
    check_scalar::<AtomicU8>("AtomicU8");
    check_scalar::<AtomicU16>("AtomicU16");
    check_scalar::<AtomicU32>("AtomicU32");
    check_scalar::<AtomicU64>("AtomicU64");
    check_scalar::<AtomicUsize>("AtomicUsize");
    check_scalar::<AtomicI8>("AtomicI8");
    check_scalar::<AtomicI16>("AtomicI16");
    check_scalar::<AtomicI32>("AtomicI32");
    check_scalar::<AtomicI64>("AtomicI64");
    check_scalar::<AtomicIsize>("AtomicIsize");
    // The atomics have the integer's size and alignment (AtomicU64 is 8-aligned even where
    // u64 is not).
    assert_eq!(AtomicU64::LAYOUT.size, 8);
    assert_eq!(AtomicU64::LAYOUT.align, 8);
    #[cfg(target_pointer_width = "64")]
    assert_eq!(usize::LAYOUT.schema(), "usize(8/8)");
}

#[test]
fn arrays_nest() {
    let l = <[[u16; 3]; 5]>::LAYOUT;
    assert_eq!((l.size, l.align), (30, 2));
    assert_eq!(l.schema(), "[[u16(2/2);3];5]");
    match l.shape {
        Shape::Array { elem, len } => {
            assert_eq!(len, 5);
            assert_eq!(elem, &<[u16; 3]>::LAYOUT);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(<[u8; 0]>::LAYOUT.schema(), "[u8(1/1);0]");
}

#[test]
fn array_init_in_place_visits_every_element() {
    // u64's init does nothing: the zeroed array stays zeroed and init succeeds.
    let mut a = [0u64; 4];
    // SAFETY: our own aligned, zeroed, exclusive array.
    unsafe { <[u64; 4]>::init_in_place(&mut a).unwrap() };
    assert_eq!(a, [0; 4]);
}

#[test]
fn fingerprints_differ_by_every_part_of_the_tree() {
    static U32: TypeLayout = TypeLayout::scalar("u32", 4, 4);
    static I32: TypeLayout = TypeLayout::scalar("i32", 4, 4);
    let base = TypeLayout::scalar("u32", 4, 4).fingerprint();
    assert_eq!(base, u32::LAYOUT.fingerprint());
    let others = [
        TypeLayout::scalar("i32", 4, 4),
        TypeLayout::scalar("u32", 8, 4),
        TypeLayout::scalar("u32", 4, 8),
        TypeLayout::opaque("u32", 4, 4),
        TypeLayout::array(&U32, 1),
    ];
    for o in others {
        assert_ne!(o.fingerprint(), base, "{o:?}");
    }
    // Field name, offset, order and type each count.
    static F_AB: [Field; 2] = [
        Field {
            name: "a",
            offset: 0,
            layout: &U32,
        },
        Field {
            name: "b",
            offset: 4,
            layout: &U32,
        },
    ];
    static F_BA: [Field; 2] = [
        Field {
            name: "b",
            offset: 0,
            layout: &U32,
        },
        Field {
            name: "a",
            offset: 4,
            layout: &U32,
        },
    ];
    static F_AC: [Field; 2] = [
        Field {
            name: "a",
            offset: 0,
            layout: &U32,
        },
        Field {
            name: "c",
            offset: 4,
            layout: &U32,
        },
    ];
    static F_AB_I: [Field; 2] = [
        Field {
            name: "a",
            offset: 0,
            layout: &U32,
        },
        Field {
            name: "b",
            offset: 4,
            layout: &I32,
        },
    ];
    static F_AB_MOVED: [Field; 2] = [
        Field {
            name: "a",
            offset: 0,
            layout: &U32,
        },
        Field {
            name: "b",
            offset: 8,
            layout: &U32,
        },
    ];
    let s = |f: &'static [Field]| TypeLayout::structure("S", 8, 4, f).fingerprint();
    let all = [s(&F_AB), s(&F_BA), s(&F_AC), s(&F_AB_I), s(&F_AB_MOVED)];
    for i in 0..all.len() {
        for j in 0..i {
            assert_ne!(all[i], all[j], "{i} vs {j}");
        }
    }
    // Name boundaries are length-prefixed: ("ab","c") is not ("a","bc").
    static F1: [Field; 1] = [Field {
        name: "c",
        offset: 0,
        layout: &U32,
    }];
    static F2: [Field; 1] = [Field {
        name: "bc",
        offset: 0,
        layout: &U32,
    }];
    assert_ne!(
        TypeLayout::structure("ab", 4, 4, &F1).fingerprint(),
        TypeLayout::structure("a", 4, 4, &F2).fingerprint()
    );
}

#[test]
fn schemas_parse_back_to_the_same_text() {
    let text = OUTER.schema();
    assert_eq!(
        text,
        "Outer(96/8){tag:u8(1/1)@0,locks:[RawMutex(opaque 40/8);2]@8,\
         inner:Inner(1/1){0:u8(1/1)@0}@88}"
    );
    let parsed = Schema::parse(&text).unwrap();
    assert_eq!(parsed.to_string(), text);
    assert_eq!(
        (parsed.name(), parsed.size(), parsed.align()),
        ("Outer", 96, 8)
    );
    assert!(diff_schemas(&text, &text).is_empty());
}

#[test]
fn parsed_schemas_can_be_walked() {
    let s = Schema::parse("S(56/8){t:u8(1/1)@0,m:[M(opaque 8/8);2]@8,i:I(32/8){0:u64(8/8)@0}@24}")
        .unwrap();
    let root = s.root();
    assert_eq!((root.name(), root.size(), root.align()), ("S", 56, 8));
    let SchemaShape::Struct { fields } = root.shape() else {
        panic!("{:?}", root.shape())
    };
    let got: Vec<(&str, usize, &str, usize)> = fields
        .iter()
        .map(|f| (f.name(), f.offset(), f.ty().name(), f.ty().size()))
        .collect();
    assert_eq!(
        got,
        [("t", 0, "u8", 1), ("m", 8, "[T;N]", 16), ("i", 24, "I", 32)]
    );
    assert_eq!(fields[0].ty().shape(), SchemaShape::Scalar);
    let SchemaShape::Array { elem, len } = fields[1].ty().shape() else {
        panic!()
    };
    assert_eq!(
        (elem.name(), elem.shape(), elem.align(), len),
        ("M", SchemaShape::Opaque, 8, 2)
    );
    let SchemaShape::Struct { fields: inner } = fields[2].ty().shape() else {
        panic!()
    };
    assert_eq!((inner.len(), inner[0].name()), (1, "0"));
}

#[test]
fn names_outside_the_grammar_are_written_parseably() {
    let l = TypeLayout::opaque("pthread mutex<t>", 40, 8);
    assert_eq!(l.schema(), "pthread_mutex_t_(opaque 40/8)");
    assert!(Schema::parse(&l.schema()).is_ok());
    assert_eq!(TypeLayout::scalar("", 1, 1).schema(), "_(1/1)");
}

fn parse_err(text: &str) -> String {
    match Schema::parse(text) {
        Ok(s) => panic!("{text:?} parsed as {s}"),
        Err(e) => match e.kind() {
            ErrorKind::InvalidInput => e.detail().expect("says why").to_owned(),
            other => panic!("{text:?}: unexpected kind {other:?}"),
        },
    }
}

#[test]
fn malformed_schemas_are_errors() {
    assert!(parse_err("").contains("expected a name"));
    assert!(parse_err("u64").contains("expected `(`"));
    assert!(parse_err("u64(8/8").contains("expected `)`"));
    assert!(parse_err("u64(8/8)x").contains("trailing"));
    assert!(parse_err("u64(99999999999999999999999/8)").contains("too large"));
    assert!(parse_err("[u64(8/8);9999999999999999999]").contains("overflows"));
    assert!(parse_err("S(8/4){a:u32(4/4)@0,a:u32(4/4)@4}").contains("duplicate field `a`"));
    assert!(parse_err("S(8/4){a:u32(4/4)}").contains("expected `@`"));
    assert!(parse_err("S(8/4){a:u32(4/4)@0,}").contains("expected a name"));
    assert!(parse_err("S(8/4){a:u32(4/4)@0").contains("expected `,`"));
    assert!(parse_err("S(4/4) {}").contains("trailing"));
    assert!(parse_err("é(1/1)").contains("expected a name"));
    // Issue 19 (FORMAT.md, "The schema string"): no leading zeros; every ALIGN a power of
    // two with SIZE a multiple of it; a scalar named after a Rust scalar has its width.
    assert!(parse_err("u64(08/8)").contains("leading zero"));
    assert!(parse_err("[u8(1/1);01]").contains("leading zero"));
    assert!(parse_err("S(8/8){a:u64(8/8)@00}").contains("leading zero"));
    assert!(parse_err("u64(3/1)").contains("it is 8 bytes"));
    assert!(parse_err("S(4/4){a:u16(2/4)@0}").contains("not a multiple"));
    assert!(parse_err("usize(3/1)").contains("not a pointer width"));
    assert!(parse_err("S(8/8){a:T(6/3){}@0}").contains("not a power of two"));
    assert!(parse_err("S(8/8){a:T(6/4){}@0}").contains("not a multiple"));
    assert!(parse_err("L(opaque 40/3)").contains("not a power of two"));
    for ok in [
        "u0(0/1)",
        "Foo(3/1)",
        "u64(8/4)",
        "usize(4/4)",
        "AtomicU64(8/8)",
        "S(0/1){}",
    ] {
        assert!(Schema::parse(ok).is_ok(), "{ok}");
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let ok = format!(
        "{}u8(1/1){}",
        "[".repeat(MAX_SCHEMA_DEPTH - 1),
        ";1]".repeat(MAX_SCHEMA_DEPTH - 1)
    );
    assert!(Schema::parse(&ok).is_ok());
    let deep = format!(
        "{}u8(1/1){}",
        "[".repeat(MAX_SCHEMA_DEPTH),
        ";1]".repeat(MAX_SCHEMA_DEPTH)
    );
    assert!(parse_err(&deep).contains("nested deeper"));
    let huge = "[".repeat(1_000_000);
    assert!(parse_err(&huge).contains("nested deeper"));
    let structs = "S(1/1){a:".repeat(100_000);
    assert!(parse_err(&structs).contains("nested deeper"));
}

#[test]
fn mutated_schemas_never_panic() {
    let good = "Stats(272/8){requests:AtomicU64(8/8)@0,hist:[u64(8/8);32]@8,\
                inner:P(8/4){a:u32(4/4)@0,b:M(opaque 4/4)@4}@264}";
    let alphabet = b"[](){};:,@/ opaque0123456789aZ_\xff";
    // Deterministic, so the no-panic sweep is reproducible.
    let mut next = ipc_testutil::xorshift64(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let mut bytes = good.as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[i] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, alphabet[(next() as usize) % alphabet.len()]),
            }
            if bytes.is_empty() {
                break;
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        // Either parses and round-trips, or is an error; the diff never panics either.
        if let Ok(s) = Schema::parse(&text) {
            assert!(diff_schemas(&s.to_string(), &s.to_string()).is_empty());
            // The diff is empty exactly when the trees (and so the fingerprints) agree.
            let same = Schema::parse(good).unwrap() == s;
            assert_eq!(diff_schemas(good, &text).is_empty(), same, "{text}");
            assert_eq!(
                same,
                Schema::parse(good).unwrap().fingerprint() == s.fingerprint()
            );
        }
        let _ = diff_schemas(good, &text);
        let _ = diff_schemas(&text, good);
    }
}

#[test]
fn diffs_of_hostile_schemas_are_bounded() {
    // Many differences: the first MAX_SCHEMA_DIFFS are listed, then a count of the rest.
    let fields: Vec<String> = (0..1000).map(|i| format!("f{i}:u8(1/1)@{i}")).collect();
    let many = format!("S(1000/1){{{}}}", fields.join(","));
    let d = diff_schemas(&many, "S(1000/1){}");
    assert_eq!(d.len(), MAX_SCHEMA_DIFFS + 1);
    assert_eq!(
        d[0].to_string(),
        "field `f0`: missing (expected u8 at offset 0)"
    );
    assert_eq!(
        d[MAX_SCHEMA_DIFFS].kind(),
        &SchemaDiffKind::Truncated {
            more: 1000 - MAX_SCHEMA_DIFFS
        }
    );
    assert_eq!(
        d[MAX_SCHEMA_DIFFS].to_string(),
        format!("... and {} more differences", 1000 - MAX_SCHEMA_DIFFS)
    );
    // A root name of half a megabyte above 30_000 differing fields: each listed path
    // repeats the name, so listing them all would take 15 GB; the paths kept stay within
    // a megabyte and a half (the first difference is always listed).
    let root = "R".repeat(500_000);
    let fields: Vec<String> = (0..30_000).map(|i| format!("f{i}:u8(1/1)@0")).collect();
    let wide = format!("{root}(1/1){{{}}}", fields.join(","));
    let d = diff_schemas(&wide, &format!("{root}(1/1){{}}"));
    let kept: usize = d.iter().map(|d| d.path().len()).sum();
    assert!(kept <= 1_500_000, "{kept}");
    assert_eq!(
        d.last().unwrap().kind(),
        &SchemaDiffKind::Truncated {
            more: 30_000 - (d.len() - 1)
        }
    );
    assert!(d[0].path().starts_with(&root) && d[0].path().ends_with(".f0"));
}

#[test]
fn diff_reports_unparseable_sides() {
    let d = diff_schemas("u64(8/8)", "garbage(");
    assert_eq!(d.len(), 1);
    assert!(matches!(
        d[0].kind(),
        SchemaDiffKind::Unparseable { which: "found", .. }
    ));
    assert!(
        d[0].to_string().starts_with("found schema unparseable: "),
        "{}",
        d[0]
    );
    assert_eq!(diff_schemas("(", ")").len(), 2);
}

#[test]
fn diff_of_each_kind() {
    let base = "S(16/8){a:u64(8/8)@0,b:u32(4/4)@8}";
    let cases: &[(&str, &[&str])] = &[
        (base, &[]),
        (
            "S(16/8){b:u32(4/4)@0,a:u64(8/8)@8}",
            &[
                "field `a`: expected offset 0, found 8",
                "field `b`: expected offset 8, found 0",
            ],
        ),
        (
            "S(16/8){a:i64(8/8)@0,b:u32(4/4)@8}",
            &["field `a`: expected type u64, found i64"],
        ),
        (
            "S(16/8){a:u64(8/8)@0}",
            &["field `b`: missing (expected u32 at offset 8)"],
        ),
        (
            "S(16/8){a:u64(8/8)@0,b:u32(4/4)@8,c:u16(2/2)@12}",
            &["field `c`: added (u16 at offset 12)"],
        ),
        // A 32-bit peer: same names, u64 aligned to 4.
        (
            "S(12/4){a:u64(8/4)@0,b:u32(4/4)@8}",
            // (The struct's size change is explained by the field's: not listed again.)
            &[
                "field `a`: expected align 8, found 4",
                "type `S`: expected align 8, found 4",
            ],
        ),
        // A u64 of 4 bytes is malformed (FORMAT.md: a scalar named after a Rust scalar has
        // its width), not another layout.
        (
            "S(16/8){a:u64(4/8)@0,b:u32(4/4)@8}",
            &["found schema unparseable: schema: `u64`: size 4 is not a multiple of its alignment 8 at byte 18"],
        ),
        (
            "S(16/8){a:u64(opaque 8/8)@0,b:u32(4/4)@8}",
            &["field `a`: expected type u64 (scalar), found u64 (opaque)"],
        ),
        (
            "S(16/8){a:[u32(4/4);2]@0,b:u32(4/4)@8}",
            &["field `a`: expected type u64, found [u32;2]"],
        ),
        (
            "T(16/8){a:u64(8/8)@0,b:u32(4/4)@8}",
            &["type `S`: expected type S, found T"],
        ),
        (
            "S(32/8){a:u64(8/8)@0,b:u32(4/4)@8}",
            &["type `S`: expected size 16, found 32"],
        ),
    ];
    for (found, want) in cases {
        let got: Vec<String> = diff_schemas(base, found)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(&got, want, "found = {found}");
    }
    // Zero-sized fields share an offset, so only their order tells two layouts apart (the
    // fingerprint hashes it): the diff names it rather than being empty.
    let zst = "Z(4/4){a:u32(4/4)@0,m:[u8(1/1);0]@4,n:[u16(2/2);0]@4}";
    let swapped = "Z(4/4){a:u32(4/4)@0,n:[u16(2/2);0]@4,m:[u8(1/1);0]@4}";
    let d = diff_schemas(zst, swapped);
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["type `Z`: expected field order [a, m, n], found [a, n, m]"]
    );
    assert_ne!(
        Schema::parse(zst).unwrap().fingerprint(),
        Schema::parse(swapped).unwrap().fingerprint()
    );
    // Array elements: the path says `[]`.
    let d = diff_schemas("[S(4/4){x:u32(4/4)@0};2]", "[S(4/4){x:i32(4/4)@0};2]");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].path(), "[S;2][].x");
    assert_eq!(
        d[0].to_string(),
        "field `[].x`: expected type u32, found i32"
    );
}

#[test]
fn diff_inside_arrays_names_the_element() {
    let d = diff_schemas("[u64(8/8);2]", "[u64(opaque 8/8);2]");
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["field `[]`: expected type u64 (scalar), found u64 (opaque)"]
    );
    let d = diff_schemas("S(16/8){a:[u64(8/8);2]@0}", "S(16/8){a:[u64(8/4);2]@0}");
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["field `a[]`: expected align 8, found 4"]);
}

#[test]
fn a_parsed_schema_has_the_fingerprint_of_its_layout() {
    // The schema carries everything the fingerprint hashes: recomputing it from the text
    // gives the same value, for scalars, opaques, arrays and nested structs.
    let layouts = [
        u64::LAYOUT,
        AtomicI16::LAYOUT,
        f32::LAYOUT,
        <[[u16; 3]; 5]>::LAYOUT,
        M,
        ARR,
        INNER,
        OUTER,
        TypeLayout::structure("Empty", 0, 1, &[]),
    ];
    for l in layouts {
        let parsed = Schema::parse(&l.schema()).unwrap();
        assert_eq!(parsed.fingerprint(), l.fingerprint(), "{}", l.schema());
    }
    // And a different schema, a different fingerprint.
    let a = Schema::parse("S(8/4){a:u32(4/4)@0,b:u32(4/4)@4}").unwrap();
    let b = Schema::parse("S(8/4){a:u32(4/4)@0,c:u32(4/4)@4}").unwrap();
    assert_ne!(a.fingerprint(), b.fingerprint());
}

/// The fingerprint is part of the on-disk (in-segment) format: builds of different versions
/// of this crate must agree on it. These values were computed independently (in Python) from
/// the algorithm written in the `layout` module docs.
#[cfg(all(target_endian = "little", target_pointer_width = "64"))]
#[test]
fn fingerprint_matches_the_documented_algorithm() {
    assert_eq!(u64::LAYOUT.fingerprint(), 0x00be_4084_ae87_cad4);
    let s = Schema::parse("S(8/4){a:u32(4/4)@0,b:[u16(2/2);2]@4}").unwrap();
    assert_eq!(s.fingerprint(), 0xce21_22f3_6f6f_cb45);
}
