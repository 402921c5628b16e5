use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Node {
    value: u64,
    next: *mut Node,
}

fn main() {}
