//! Compile-fail tests: every refusal of the derive, with its expected error (`.stderr`).
//! Regenerate the expectations with `TRYBUILD=overwrite` and read each one.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
