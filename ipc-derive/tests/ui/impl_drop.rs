use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Guarded {
    a: u64,
}

impl Drop for Guarded {
    fn drop(&mut self) {}
}

fn main() {}
