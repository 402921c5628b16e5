use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Borrowed<'a> {
    data: &'a u64,
}

fn main() {}
