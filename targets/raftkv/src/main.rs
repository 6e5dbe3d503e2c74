//! The raftkv server binary.
fn main() {}
