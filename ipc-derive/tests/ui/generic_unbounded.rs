use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Wrapper<T> {
    inner: T,
}

fn check<T: ipc_core::SharedLayout>() {}

fn main() {
    check::<Wrapper<u32>>();
    check::<Wrapper<char>>();
}
