use ipc_derive::SharedLayout;
use std::sync::atomic::AtomicBool;

#[derive(SharedLayout)]
#[repr(transparent)]
struct Flag(AtomicBool);

fn main() {}
