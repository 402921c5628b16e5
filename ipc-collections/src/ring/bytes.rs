//! bytes (todo)
