use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
union Bits {
    i: u32,
    f: f32,
}

fn main() {}
