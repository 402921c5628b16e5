use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shared_layout(rename = "Other")]
struct Stats {
    a: u64,
}

fn main() {}
