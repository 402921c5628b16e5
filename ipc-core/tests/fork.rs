//! A forked child never releases its parent's locks, units or names (issue 19): each guard
//! of the in-place primitives and each creating handle is dropped in a real forked child,
//! and the parent (through another forked process) checks that what it holds is still held.
//!
//! The child drops its copy through `Option::take` on a slot the parent keeps: the parent's
//! value stays where it was, the child's copy of it is dropped in the child only.

use std::ptr::addr_of_mut;

use ipc_core::mq::MessageQueue;
use ipc_core::sem::{NamedSemaphore, Semaphore};
use ipc_core::sync::{RawMutex, RawRwLock};
use ipc_core::{ErrorKind, SharedLayout};
use ipc_testutil::shared_mem::ShMem;
use ipc_testutil::{child_drops, fork_run, unique_name, Cleanup, CHILD};

/// In a second forked child: a try-acquire of what the parent holds must give WouldBlock.
fn held_in_another_process(f: impl FnOnce() -> ipc_core::Result<()>) {
    fork_run(CHILD, || {
        f().err().map(|e| e.kind()) == Some(ErrorKind::WouldBlock)
    })
    .expect("another process finds it still held (WouldBlock)");
}

#[repr(C)]
struct Prims {
    m: RawMutex,
    rw: RawRwLock,
    sem: Semaphore,
}

fn prims() -> ShMem<Prims> {
    ShMem::new(|p: *mut Prims| {
        // SAFETY: `p` is fresh, zeroed, aligned shared memory nobody else sees yet.
        unsafe {
            <RawMutex as SharedLayout>::init_in_place(addr_of_mut!((*p).m)).expect("init");
            <RawRwLock as SharedLayout>::init_in_place(addr_of_mut!((*p).rw)).expect("init");
            <Semaphore as SharedLayout>::init_in_place(addr_of_mut!((*p).sem)).expect("init");
        }
    })
}

#[test]
fn mutex_guard_dropped_by_a_forked_child_does_not_unlock() {
    let d = prims();
    let mut g = Some(d.m.guard().unwrap());
    child_drops(&mut g);
    held_in_another_process(|| d.m.try_lock().map(drop));
    drop(g);
    drop(d.m.try_guard().unwrap());
}

#[test]
fn rwlock_write_guard_dropped_by_a_forked_child_does_not_unlock() {
    let d = prims();
    let mut g = Some(d.rw.write_guard().unwrap());
    child_drops(&mut g);
    held_in_another_process(|| d.rw.try_read());
    drop(g);
    d.rw.try_write().unwrap();
    // SAFETY: this thread took the write lock just above.
    unsafe { d.rw.unlock() };
}

#[test]
fn rwlock_read_guard_dropped_by_a_forked_child_does_not_unlock() {
    let d = prims();
    let mut g = Some(d.rw.read_guard().unwrap());
    child_drops(&mut g);
    // A writer must still be kept out.
    held_in_another_process(|| d.rw.try_write());
    drop(g);
    d.rw.try_write().unwrap();
    // SAFETY: this thread took the write lock just above.
    unsafe { d.rw.unlock() };
}

#[test]
fn sem_guard_dropped_by_a_forked_child_does_not_post() {
    let d = prims();
    d.sem.post().unwrap();
    let mut g = Some(d.sem.guard().unwrap());
    assert_eq!(d.sem.value(), 0);
    child_drops(&mut g);
    assert_eq!(d.sem.value(), 0, "the unit is still the parent's");
    drop(g);
    assert_eq!(d.sem.value(), 1, "the parent's drop gives it back");
}

#[test]
fn named_semaphore_and_queue_created_then_dropped_by_a_forked_child_keep_their_names() {
    let (sn, qn) = (unique_name("fork-sem"), unique_name("fork-mq"));
    let (_cs, _cq) = (Cleanup::sem(&sn), Cleanup::mq(&qn));
    let mut sem = Some(NamedSemaphore::create(&sn, 0).unwrap());
    let mut q = Some(MessageQueue::create(&qn, 1, 8).unwrap());
    child_drops(&mut sem);
    child_drops(&mut q);
    drop(NamedSemaphore::open(&sn).expect("the name survives the child's drop"));
    drop(MessageQueue::open(&qn).expect("the name survives the child's drop"));
    drop((sem, q));
    assert_eq!(
        NamedSemaphore::open(&sn).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        MessageQueue::open(&qn).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn the_owner_is_the_parent_and_a_forked_child_knows_its_own_pid() {
    use ipc_core::process::{current_pid, Owner};
    let owner = Owner::current();
    assert!(owner.is_current());
    fork_run(CHILD, || {
        !owner.is_current() && current_pid() == std::process::id() && Owner::current() != owner
    })
    .unwrap();
    assert!(owner.is_current());
}
