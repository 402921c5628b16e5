//! The process-shared locks around a value: [`SharedMutex`](mutex::SharedMutex) and the
//! array lock on [`PoisonMutex`](poison::PoisonMutex) (a robust mutex that a crashed holder
//! poisons), [`SharedRwLock`](rwlock::SharedRwLock), [`SharedCondvar`](condvar::SharedCondvar).

pub(crate) mod condvar;
pub(crate) mod mutex;
pub mod poison;
pub(crate) mod rwlock;
