use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C, packed)]
struct Packed {
    a: u8,
    b: u64,
}

fn main() {}
