use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Flags {
    count: u32,
    ready: bool,
}

fn main() {}
