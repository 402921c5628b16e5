//! MPMC (todo)
