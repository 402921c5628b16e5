use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(u8)]
enum State {
    Idle,
    Busy,
}

fn main() {}
