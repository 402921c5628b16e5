use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
struct NoRepr {
    a: u64,
}

fn main() {}
