use ipc_derive::SharedLayout;

// A non-ASCII type name is fine once the layout has an ASCII name.
#[derive(SharedLayout)]
#[repr(C)]
#[shared_layout(name = "Cafe")]
struct Café {
    cups: u64,
}

#[derive(SharedLayout)]
#[repr(C)]
struct Térmica {
    grados: u64,
}

#[derive(SharedLayout)]
#[repr(C)]
struct Menu {
    precio: u64,
    café: u64,
}

fn main() {}
