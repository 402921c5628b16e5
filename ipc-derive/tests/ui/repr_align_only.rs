use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(align(64))]
struct AlignOnly {
    a: u64,
}

fn main() {}
