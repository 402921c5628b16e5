//! IPC.jl's `WrappedArray(id)`: open a shared array by name without knowing its element
//! type; the type and dims come from the segment.
//!
//! ```text
//! cargo run --example any_array
//! ```
//!
//! The parent creates an `i32` array of 2 x 3 and starts itself again as a second process,
//! which opens the array with `AnyArray::open` (no type named), prints its type, dims and
//! elements, and sums it by matching on the element type.

use std::process::{Command, ExitCode, Stdio};

use ipc::{AnyArray, SharedArray};

fn print(name: &str) -> ipc::Result<()> {
    let a = AnyArray::open(name)?;
    println!(
        "{name}: {} {:?} {}",
        a.elem(),
        a.dims(),
        a.to_string_lossy()?
    );
    // Match on the element type for typed work (or ask: a.typed::<i32>()).
    let sum: f64 = match &a {
        AnyArray::I32(x) => x.lock()?.iter().map(|&v| f64::from(v)).sum(),
        AnyArray::F64(x) => x.lock()?.iter().sum(),
        other => {
            println!("(no sum for {})", other.elem());
            0.0
        }
    };
    println!("sum {sum}");
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("/ipc-any-array-{}", std::process::id());
    let grid = SharedArray::<i32>::options()
        .dims(&[2, 3])
        .create(&name, |x| x.copy_from_slice(&[1, 2, 3, 40, 50, 60]))?;
    // The second process: it never names i32.
    let out = Command::new(std::env::current_exe()?)
        .args(["--print", &name])
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() || !text.contains("i32 [2, 3] [[1, 2, 3], [40, 50, 60]]") {
        return Err(format!(
            "the second process did not print the array ({})",
            out.status
        )
        .into());
    }
    drop(grid); // removes the name
    println!("any_array: ok");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("--print") => print(&args[2]).map_err(Into::into),
        _ => run(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("any_array: {e}");
            ExitCode::FAILURE
        }
    }
}
