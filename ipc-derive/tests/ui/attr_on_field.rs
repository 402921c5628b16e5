use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    #[shared_layout(name = "hits")]
    requests: u64,
}

fn main() {}
