//! `ipc array create|show|set`: arrays of any element type through
//! [`ipc_collections::AnyArray`], which reads the element type from the segment (the user
//! never names it except to create one).
//!
//! Unlike `inspect` and `dump`, these map the segment: the values are read and written
//! under the array's robust lock, as every other process does. The library validates the
//! header against the object's size before mapping.

use std::time::Duration;

use ipc_collections::{AnyArray, ElemType};
use serde_json::{json, Value};

use crate::out::{emit, emit_json, esc, JSON_VERSION};
use crate::Failure;

/// How long `show` and `set` wait for a creator that is still initialising the array.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// An element type name (for clap): one of [`ElemType::ALL`].
pub fn parse_type(s: &str) -> Result<ElemType, String> {
    ElemType::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = ElemType::ALL.iter().map(|e| e.name()).collect();
        format!("{s:?} is not an element type; one of: {}", names.join(", "))
    })
}

fn dims_text(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// `ipc array create NAME --type T --dims D1,D2,.. [--fill X] [--mode M]`: the array
/// persists (the tool's handle does not remove it).
pub fn create(
    name: &str,
    elem: ElemType,
    dims: &[usize],
    fill: &str,
    mode: u32,
) -> Result<(), Failure> {
    let a = AnyArray::options()
        .dims(dims)
        .mode(mode)
        .unlink_on_drop(false)
        .create(name, elem, fill)?;
    emit(&format!(
        "created array {} of {} {}\n",
        esc(name),
        a.elem(),
        dims_text(a.dims())
    ));
    Ok(())
}

/// A value as JSON: a number where JSON has one, else the text (`"NaN"`, `"inf"`).
fn json_value(text: String) -> Value {
    match serde_json::from_str::<serde_json::Number>(&text) {
        Ok(n) => Value::Number(n),
        Err(_) => Value::String(text),
    }
}

/// `ipc array show NAME [--json]`: the type, the dims, and the values in C order.
pub fn show(name: &str, as_json: bool) -> Result<(), Failure> {
    let a = AnyArray::options().timeout(OPEN_TIMEOUT).open(name)?;
    if as_json {
        let values: Vec<Value> = a.values_text()?.into_iter().map(json_value).collect();
        emit_json(&json!({
            "version": JSON_VERSION,
            "name": name,
            "type": a.elem().name(),
            "dims": a.dims(),
            "values": values,
        }));
    } else {
        emit(&format!(
            "{} {}\n{}\n",
            a.elem(),
            dims_text(a.dims()),
            a.to_string_lossy()?
        ));
    }
    Ok(())
}

/// `ipc array set NAME INDEX VALUE`.
pub fn set(name: &str, index: &[usize], value: &str) -> Result<(), Failure> {
    let a = AnyArray::options().timeout(OPEN_TIMEOUT).open(name)?;
    a.set_text(index, value).map_err(|e| e.or_name(name))?;
    Ok(())
}
