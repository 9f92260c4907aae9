//! Compile errors of the macros are part of the product: each mistake gives one error, on the
//! user's token, saying how to fix it. Refresh snapshots with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
