//! Benchmark (see README).
fn main() {}
