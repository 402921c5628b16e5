use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shared_layout(name = "Stats<v2>")]
struct Stats {
    a: u64,
}

fn main() {}
