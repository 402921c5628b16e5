use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(Rust)]
struct ReprRust {
    a: u64,
}

fn main() {}
