use ipc_core::SharedLayout;

fn check<T: SharedLayout>() {}

fn main() {
    check::<bool>();
    check::<char>();
    check::<&'static u64>();
    check::<std::num::NonZeroU64>();
    check::<std::cell::UnsafeCell<u64>>();
}
