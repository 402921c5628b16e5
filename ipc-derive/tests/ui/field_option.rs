use ipc_derive::SharedLayout;
use std::num::NonZeroU32;

#[derive(SharedLayout)]
#[repr(C)]
struct Maybe(Option<NonZeroU32>, u32);

fn main() {}
