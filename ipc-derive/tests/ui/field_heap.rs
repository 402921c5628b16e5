use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Owner {
    name: String,
}

fn main() {}
